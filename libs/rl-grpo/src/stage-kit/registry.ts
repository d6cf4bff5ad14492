import { z } from 'zod';
import type { LossTermPlugin, TrainerHooks } from './plugin';
import type { RewardFunction } from '../grpo/rewards';

/** A loss-term plugin kind usable from config: `plugins: [{ <name>: { ...options } }]`. */
export interface LossTermPluginFactory<S extends z.ZodType = z.ZodType> {
  name: string;
  description: string;
  /** Options schema; its output is what `create` receives (parsed once, by the stage schema). */
  schema: S;
  /** Builds the term; its metric prefix is the config key (`<name>/...`). */
  create(options: z.output<S>): LossTermPlugin & { hooks?: TrainerHooks };
}

/** Config entry of one plugin: an object with exactly one key, the plugin's registered name. */
export type PluginSpec = Record<string, unknown>;

/**
 * The extension points of a pipeline in one object: loss-term plugins and reward functions by
 * name. The composition root (the CLI's wiring) builds one, lets each library register what it
 * brings, and passes it to the stage factories. Nothing registers itself on import.
 */
export class Registry {
  private readonly terms = new Map<string, LossTermPluginFactory>();
  private readonly rewardFns = new Map<string, RewardFunction>();

  registerLossTerm<S extends z.ZodType>(factory: LossTermPluginFactory<S>): this {
    this.terms.set(factory.name, factory as unknown as LossTermPluginFactory);
    return this;
  }

  registerReward(name: string, fn: RewardFunction): this {
    this.rewardFns.set(name, fn);
    return this;
  }

  lossTerm(name: string): LossTermPluginFactory | undefined {
    return this.terms.get(name);
  }

  lossTermNames(): string[] {
    return [...this.terms.keys()];
  }

  reward(name: string): RewardFunction {
    const fn = this.rewardFns.get(name);
    if (!fn) throw new Error(`unknown reward function "${name}"; registered: ${this.rewardNames().join(', ')}. ${REGISTER_HINT}`);
    return fn;
  }

  rewardNames(): string[] {
    return [...this.rewardFns.keys()];
  }

  /** Why `name` is not a known plugin, with what to do about it. */
  unknownLossTermMessage(name: string): string {
    return `unknown plugin "${name}"; registered: ${this.lossTermNames().join(', ') || 'none'}. ${REGISTER_HINT}`;
  }

  /**
   * Builds the terms of parsed plugin entries (options already parsed by the stage schema, see
   * `parsePluginSpecs`), each with the hooks it brings.
   */
  createLossTerms(specs: readonly PluginSpec[]): (LossTermPlugin & { hooks?: TrainerHooks })[] {
    return specs.map((spec, i) => {
      const [name] = Object.keys(spec);
      const factory = name === undefined ? undefined : this.terms.get(name);
      if (!factory) throw new Error(`plugins[${i}]: ${this.unknownLossTermMessage(String(name))}`);
      return factory.create(spec[name!]);
    });
  }
}

const REGISTER_HINT =
  "em-plugin's are registered by registerEmPlugins(registry) from '@emrl/em-plugin'; your own with registry.registerLossTerm(...) / registry.registerReward(...) before the pipeline is built";

/**
 * Parses each `{ <name>: options }` entry with its plugin's schema (once), reporting problems as
 * zod issues under `plugins[i].<name>`; returns new entries holding the parsed options.
 */
export function parsePluginSpecs(registry: Registry, specs: readonly PluginSpec[], ctx: z.RefinementCtx, path: (string | number)[] = ['plugins']): PluginSpec[] {
  return specs.map((spec, i) => {
    const keys = Object.keys(spec);
    if (keys.length !== 1) {
      ctx.addIssue({ code: 'custom', path: [...path, i], message: `a plugin entry has exactly one key, its name (registered: ${registry.lossTermNames().join(', ')}); found ${JSON.stringify(keys)}` });
      return spec;
    }
    const name = keys[0]!;
    const factory = registry.lossTerm(name);
    if (!factory) {
      ctx.addIssue({ code: 'custom', path: [...path, i, name], message: registry.unknownLossTermMessage(name) });
      return spec;
    }
    const parsed = factory.schema.safeParse(spec[name] ?? {});
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, path: [...path, i, name, ...issue.path] } as never);
      return spec;
    }
    return { [name]: parsed.data };
  });
}
