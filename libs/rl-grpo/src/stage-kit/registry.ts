import type { z } from 'zod';
import type { LossTermPlugin, TrainerHooks } from './plugin';

/** A loss-term plugin kind usable from config: `plugins: [{ <name>: { ...options } }]`. */
export interface LossTermPluginFactory<S extends z.ZodType = z.ZodType> {
  name: string;
  description: string;
  schema: S;
  create(config: z.infer<S>): LossTermPlugin & { hooks?: TrainerHooks };
}

const factories = new Map<string, LossTermPluginFactory>();

export function registerLossTermPlugin<S extends z.ZodType>(factory: LossTermPluginFactory<S>): void {
  factories.set(factory.name, factory as unknown as LossTermPluginFactory);
}

export function getLossTermPluginFactory(name: string): LossTermPluginFactory | undefined {
  return factories.get(name);
}

export function listLossTermPlugins(): string[] {
  return [...factories.keys()];
}

/** Config entry of one plugin: an object with exactly one key, the plugin's registered name. */
export type PluginSpec = Record<string, unknown>;

/** Builds plugins from config entries (validated already by the stage schema). */
export function createLossTermPlugins(specs: readonly PluginSpec[]): (LossTermPlugin & { hooks?: TrainerHooks })[] {
  return specs.map((spec, i) => {
    const keys = Object.keys(spec);
    const name = keys[0];
    const factory = name === undefined ? undefined : factories.get(name);
    if (keys.length !== 1 || !factory) {
      throw new Error(`plugins[${i}]: expected one key naming a registered plugin (${listLossTermPlugins().join(', ')}), found ${JSON.stringify(keys)}`);
    }
    return factory.create(factory.schema.parse(spec[name!] ?? {}));
  });
}
