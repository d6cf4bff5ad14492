/**
 * A model worker thread (model-workers.ts): holds replicas of the trainer thread's models in named
 * slots, kept in sync by `weights` messages, and runs generation, no-grad token statistics and the
 * worker half of a split gradient pass (grad-channel.ts) on its share of rows.
 */
import * as tf from '@tensorflow/tfjs-core';
import { parentPort } from 'node:worker_threads';
import { initBackend } from '../backend';
import { generate } from '../generation/generate';
import { LoraAdapter } from '../lora/lora-adapter';
import { CausalLM } from '../model/causal-lm';
import { modelTokenStats, type TokenStatsAt } from '../model/model-token-stats';
import { toPackedBatch } from '../ops/pack-batch';
import { tokenizerFromFiles } from '../tokenizer/load-tokenizer';
import type { Tokenizer } from '../tokenizer/tokenizer';
import { COMMAND_ABORT, COMMAND_GO, COMMAND_STATS, GradChannel } from './grad-channel';
import type { WorkerReply, WorkerRequest } from './worker-protocol';
import { replicaVariables } from './replica-variables';

const port = parentPort;
if (!port) throw new Error('parallel/model-worker-entry.ts must run in a worker thread');

/** How long a worker waits for the trainer's thread inside a gradient pass before giving up. */
const WAIT_MS = 10 * 60 * 1000;

interface Replica {
  model: CausalLM;
  tokenizer: Tokenizer | null;
  variables: Map<string, tf.Variable>;
}

const slots = new Map<string, Replica>();

port.on('message', (msg: WorkerRequest) => {
  let reply: WorkerReply;
  void handle(msg)
    .then((r) => (reply = r))
    .catch((e: unknown) => (reply = { type: 'error', message: (e as Error).stack ?? String(e) }))
    .then(() => port.postMessage(reply, transferables(reply)));
});

function transferables(reply: WorkerReply): ArrayBuffer[] {
  if (reply.type === 'grads') return reply.values.map((v) => v.buffer as ArrayBuffer);
  if (reply.type === 'stats') return [...reply.logProbs, ...reply.entropy].map((v) => v.buffer as ArrayBuffer);
  return [];
}

function replica(slot: string): Replica {
  const r = slots.get(slot);
  if (!r) throw new Error(`model worker: no replica in slot "${slot}" (build it first)`);
  return r;
}

async function handle(msg: WorkerRequest): Promise<WorkerReply> {
  switch (msg.type) {
    case 'init':
      await initBackend({ prefer: msg.backend });
      return { type: 'ok' };
    case 'build': {
      slots.get(msg.slot)?.model.dispose();
      const { spec } = msg;
      const model = CausalLM.zeros(spec.config); // weights arrive next
      if (spec.lora) model.setLora(LoraAdapter.create(model.config, spec.lora, 0));
      model.stopTokenIds = [...spec.stopTokenIds];
      const tokenizer = spec.tokenizerFiles ? tokenizerFromFiles(spec.tokenizerFiles, '(policy tokenizer, worker copy)') : null;
      slots.set(msg.slot, { model, tokenizer, variables: replicaVariables(model) });
      return { type: 'ok' };
    }
    case 'lora': {
      const r = replica(msg.slot);
      r.model.detachLora()?.dispose();
      if (msg.lora) r.model.setLora(LoraAdapter.create(r.model.config, msg.lora, 0)); // its variables arrive next
      r.variables = replicaVariables(r.model);
      return { type: 'ok' };
    }
    case 'weights': {
      const r = replica(msg.slot);
      msg.names.forEach((name, i) => {
        const v = r.variables.get(name);
        if (!v) throw new Error(`model worker: slot "${msg.slot}" has no variable ${name}`);
        tf.tidy(() => v.assign(tf.tensor(msg.values[i]!, v.shape, 'float32')));
      });
      return { type: 'ok' };
    }
    case 'drop':
      slots.get(msg.slot)?.model.dispose();
      slots.delete(msg.slot);
      return { type: 'ok' };
    case 'generate': {
      const r = replica(msg.slot);
      const { stopStrings, ...options } = msg.options;
      if (stopStrings.length > 0 && !r.tokenizer) throw new Error('model worker: stop strings need the policy tokenizer, which this replica has not got');
      const tok = r.tokenizer;
      const result = await generate(r.model, msg.promptIds, {
        ...options,
        ...(stopStrings.length > 0 ? { stopStrings: { strings: stopStrings, decode: (ids: readonly number[]) => tok!.decode(ids) } } : {}),
      });
      return { type: 'generated', result };
    }
    case 'stats': {
      const r = replica(msg.slot);
      const out = tf.tidy(() => {
        const stats = modelTokenStats(r.model, toPackedBatch(msg.packed), { forward: msg.forward, logitsBudgetBytes: msg.logitsBudgetBytes });
        try {
          return msg.temperatures.map((tau) => {
            const s = stats.at(tau);
            return { logProbs: s.logProbs.dataSync() as Float32Array, entropy: s.entropy.dataSync() as Float32Array };
          });
        } finally {
          stats.dispose();
        }
      });
      return { type: 'stats', logProbs: out.map((s) => new Float32Array(s.logProbs)), entropy: out.map((s) => new Float32Array(s.entropy)) };
    }
    case 'grads':
      return gradsJob(msg);
    case 'memory':
      return { type: 'memory', numTensors: tf.memory().numTensors };
  }
}

/** The worker half of a split gradient pass (see grad-channel.ts). */
function gradsJob(msg: Extract<WorkerRequest, { type: 'grads' }>): WorkerReply {
  const ch = new GradChannel(msg.channel, msg.n);
  const r = replica(msg.slot);
  const trainable = r.model.trainableVariables({ includeAdapter: false });
  const names = [...r.variables].filter(([, v]) => trainable.includes(v)).map(([k]) => k);
  const vars = names.map((k) => r.variables.get(k)!);
  let commands = 0;
  try {
    const { grads, value } = tf.variableGrads(() => {
      const batch = toPackedBatch(msg.packed);
      const stats = modelTokenStats(r.model, batch, { forward: msg.forward, logitsBudgetBytes: msg.logitsBudgetBytes });
      const eager = stats.at(msg.eagerTemperature); // the forward pass, before main asks
      const served: TokenStatsAt[] = [];
      for (;;) {
        ch.waitBeyond(1, commands, WAIT_MS, 'command from the trainer thread');
        commands++;
        const kind = Atomics.load(ch.control, 2);
        if (kind === COMMAND_STATS) {
          const s = stats.at(ch.tau[0]!);
          ch.stats.set(s.logProbs.dataSync() as Float32Array, 0);
          ch.stats.set(s.entropy.dataSync() as Float32Array, msg.n);
          served.push(s);
          ch.reply();
        } else if (kind === COMMAND_GO) break;
        else if (kind === COMMAND_ABORT) throw new Error('aborted by the trainer thread');
        else throw new Error(`unknown command ${kind}`);
      }
      const shape = eager.logProbs.shape;
      // sum_tau sum(S_tau * U_tau): its gradient w.r.t. the weights is the chain rule's J^T U.
      let total = tf.mul(tf.sum(eager.logProbs), 0) as tf.Scalar; // keeps the weights connected when nothing was asked
      served.forEach((s, i) => {
        const dLogProbs = tf.tensor(ch.upstream.subarray(2 * i * msg.n, (2 * i + 1) * msg.n), shape, 'float32');
        const dEntropy = tf.tensor(ch.upstream.subarray((2 * i + 1) * msg.n, (2 * i + 2) * msg.n), shape, 'float32');
        total = tf.add(total, tf.add(tf.sum(tf.mul(s.logProbs, dLogProbs)), tf.sum(tf.mul(s.entropy, dEntropy)))) as tf.Scalar;
      });
      return total;
    }, vars);
    value.dispose();
    const values = names.map((k) => {
      const g = grads[r.variables.get(k)!.name]!;
      const a = new Float32Array(g.dataSync() as Float32Array);
      return a;
    });
    tf.dispose(Object.values(grads));
    return { type: 'grads', names, values };
  } catch (e) {
    ch.fail((e as Error).message);
    throw e;
  }
}
