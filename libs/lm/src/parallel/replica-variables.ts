import type * as tf from '@tensorflow/tfjs-core';
import type { CausalLM } from '../model/causal-lm';

/**
 * Every variable of a model under the key a worker replica uses for it: `weight:<HF name>` (the
 * model's internal layout, Linear weights [in, out]) and `lora:<PEFT name>` for an attached LoRA
 * adapter. The same keys on both sides of a thread boundary name the same parameter.
 */
export function replicaVariables(model: CausalLM): Map<string, tf.Variable> {
  const out = new Map<string, tf.Variable>();
  for (const [name, v] of model.weights) out.set(`weight:${name}`, v);
  const lora = model.getLora();
  if (lora) for (const [name, v] of lora.namedVariables()) out.set(`lora:${name}`, v);
  return out;
}
