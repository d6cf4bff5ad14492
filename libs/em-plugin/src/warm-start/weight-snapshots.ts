import * as tf from '@tensorflow/tfjs-core';
import type { CausalLM } from '@emrl/lm';

/**
 * Copies of what a model trains (its weights, or only its LoRA adapter's variables when one is
 * attached) keyed by step, for restoring the best step of an early-stopped stage. Each snapshot
 * costs one copy of those variables; callers prune what can no longer win.
 */
export class WeightSnapshots {
  private readonly snaps = new Map<number, Map<string, tf.Tensor>>();

  take(step: number, model: CausalLM): void {
    this.drop(step);
    const copy = new Map<string, tf.Tensor>();
    for (const [name, v] of model.namedTrainableVariables({ includeAdapter: false })) copy.set(name, tf.clone(v));
    this.snaps.set(step, copy);
  }

  has(step: number): boolean {
    return this.snaps.has(step);
  }

  steps(): number[] {
    return [...this.snaps.keys()].sort((a, b) => a - b);
  }

  /** Keeps only the snapshots for which `keep(step)` is true. */
  retain(keep: (step: number) => boolean): void {
    for (const step of [...this.snaps.keys()]) if (!keep(step)) this.drop(step);
  }

  /** Assigns the snapshot of `step` to the model's trained variables; false when there is none. */
  restore(step: number, model: CausalLM): boolean {
    const snap = this.snaps.get(step);
    if (!snap) return false;
    for (const [name, v] of model.namedTrainableVariables({ includeAdapter: false })) {
      const t = snap.get(name);
      if (!t) throw new Error(`em-plugin weight-snapshots.ts: snapshot of step ${step} lacks weight "${name}" (model changed since the snapshot)`);
      v.assign(t);
    }
    return true;
  }

  dispose(): void {
    for (const step of [...this.snaps.keys()]) this.drop(step);
  }

  private drop(step: number): void {
    const snap = this.snaps.get(step);
    if (!snap) return;
    snap.forEach((t) => t.dispose());
    this.snaps.delete(step);
  }
}
