import type { StageFactory } from '@emrl/rl-grpo';

/** Stage kinds known to a pipeline: kind -> factory (zod schema for options + constructor). */
export class StageRegistry {
  private readonly factories = new Map<string, StageFactory>();

  register(factory: StageFactory): this {
    if (this.factories.has(factory.kind)) {
      throw new Error(`stage kind "${factory.kind}" is already registered; use a different kind name`);
    }
    this.factories.set(factory.kind, factory);
    return this;
  }

  /** Replace or add (used by the lead's wiring and by tests). */
  set(factory: StageFactory): this {
    this.factories.set(factory.kind, factory);
    return this;
  }

  get(kind: string): StageFactory | undefined {
    return this.factories.get(kind);
  }

  kinds(): string[] {
    return [...this.factories.keys()];
  }
}

/**
 * The process-wide registry the CLI uses. Built-in kinds (select, em, grpo, compress, eval) are
 * registered by the runtime wiring (see runtime.ts); extensions call `registerStageFactory`.
 */
export const stageRegistry = new StageRegistry();

export function registerStageFactory(factory: StageFactory): void {
  stageRegistry.set(factory);
}

/** Kinds a pipeline file may name even before their implementation is registered (for messages). */
export const BUILTIN_STAGE_KINDS = ['select', 'em', 'grpo', 'compress', 'eval', 'diagnose'] as const;
