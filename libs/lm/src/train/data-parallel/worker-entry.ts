/**
 * A gradient worker thread (see gradient-workers.ts): holds a replica of the model, and for each
 * request loads the weights it is sent, computes one shard's mean cross-entropy gradients and posts
 * them back as Float32Arrays (transferred, not copied).
 */
import * as tf from '@tensorflow/tfjs-core';
import { parentPort } from 'node:worker_threads';
import { initBackend, type BackendName } from '../../backend';
import type { ModelConfig } from '../../config';
import { CausalLM } from '../../model/causal-lm';
import type { PackedArrays } from '../../ops/pack-batch';
import { shardGradients } from './shard-gradients';

export type WorkerRequest =
  | { type: 'init'; config: ModelConfig; backend: BackendName }
  | { type: 'grads'; weights: Float32Array[]; packed: PackedArrays };

export type WorkerReply =
  | { type: 'ready'; parameters: number[] }
  | { type: 'grads'; loss: number; tokens: number; grads: Float32Array[] }
  | { type: 'error'; message: string };

const port = parentPort;
if (!port) throw new Error('train/data-parallel/worker-entry.ts must run in a worker thread');

let model: CausalLM | null = null;
let vars: tf.Variable[] = [];

port.on('message', (msg: WorkerRequest) => {
  void handle(msg).then(
    (reply) => port.postMessage(reply, reply.type === 'grads' ? reply.grads.map((g) => g.buffer as ArrayBuffer) : []),
    (e: unknown) => port.postMessage({ type: 'error', message: (e as Error).stack ?? String(e) } satisfies WorkerReply),
  );
});

async function handle(msg: WorkerRequest): Promise<WorkerReply> {
  if (msg.type === 'init') {
    await initBackend({ prefer: msg.backend });
    model = CausalLM.init(msg.config, 0); // weights arrive with every request
    vars = model.trainableVariables();
    return { type: 'ready', parameters: vars.map((v) => v.size) };
  }
  if (!model) throw new Error('gradient worker: got a grads request before init');
  if (msg.weights.length !== vars.length) throw new Error(`gradient worker: got ${msg.weights.length} weight arrays for ${vars.length} parameters`);
  vars.forEach((v, i) => tf.tidy(() => v.assign(tf.tensor(msg.weights[i]!, v.shape, 'float32'))));
  const { loss, tokens, grads } = shardGradients(model, vars, msg.packed);
  const arrays = grads.map((g) => new Float32Array(g.dataSync())); // own copies: safe to transfer
  tf.dispose(grads);
  return { type: 'grads', loss, tokens, grads: arrays };
}
