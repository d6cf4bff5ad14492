import type * as tf from '@tensorflow/tfjs-core';
import type { CausalLM, LogitsAdapter } from '@emrl/lm';

/**
 * Which parameters a trainer updates: exactly these get gradients and optimizer slots. Chosen
 * explicitly by every stage (never a default), so a frozen layer stays frozen.
 */
export interface TrainableParameters {
  /** 'model' (the model's own weights) or 'adapter' (a logits adapter's variables). */
  readonly kind: 'model' | 'adapter';
  /** For messages and checkpoints, e.g. `model weights` or `adapter "em-compress"`. */
  readonly description: string;
  /** The variables that receive gradients, in a fixed order. */
  variables(): tf.Variable[];
  /** The same variables under names that are stable across processes (optimizer state keys). */
  named(): Map<string, tf.Variable>;
  /** Logits of these parameters applied to a frozen model's logits (adapters only). */
  applyToFrozen?(logits: tf.Tensor3D): tf.Tensor3D;
}

/** The model's own weights (keyed by Hugging Face names), or its LoRA adapter's when one is attached (PEFT names); an attached logits adapter stays frozen. */
export function modelParameters(model: CausalLM): TrainableParameters {
  return {
    kind: 'model',
    description: 'model weights',
    variables: () => model.trainableVariables({ includeAdapter: false }),
    named: () => model.namedTrainableVariables({ includeAdapter: false }),
  };
}

/** A logits adapter's variables, named `<adapter name>/<index>`; the model stays frozen. */
export function adapterParameters(adapter: LogitsAdapter): TrainableParameters {
  return {
    kind: 'adapter',
    description: `adapter "${adapter.name}"`,
    variables: () => adapter.variables(),
    named: () => new Map(adapter.variables().map((v, i) => [`${adapter.name}/${i}`, v])),
    applyToFrozen: (logits) => adapter.apply(logits),
  };
}
