import type { Worker } from 'node:worker_threads';
import { spawnWorker } from '../../parallel/spawn-worker';
import type { BackendName } from '../../backend';
import type { ModelConfig } from '../../config';
import type { PackedArrays } from '../../ops/pack-batch';
import type { WorkerReply, WorkerRequest } from './worker-entry';

/** One shard's result from a worker thread. */
export interface WorkerShardResult {
  loss: number;
  tokens: number;
  grads: Float32Array[]; // in the model's trainableVariables() order
}

// This module's own extension: `.ts` from the sources (tsx, vitest), `.js` in the built package (dist/).
const OWN_EXTENSION = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
const ENTRY = new URL(`./worker-entry${OWN_EXTENSION}`, import.meta.url);

/**
 * Threads that compute gradient shards for data-parallel training on one machine (the CPU cousin
 * of PyTorch DDP: every step the caller sends the current weights and a shard of the batch to
 * each thread and averages the returned gradients with its own, weighted by loss tokens).
 * Holds threads: call `close()` when done.
 */
export class GradientWorkers {
  private constructor(private readonly workers: Worker[]) {}

  get size(): number {
    return this.workers.length;
  }

  /** Start `count` threads with a replica of a model of `config` on `backend` (the caller's). */
  static async start(count: number, config: ModelConfig, backend: BackendName, parameterSizes: number[]): Promise<GradientWorkers> {
    const workers = Array.from({ length: count }, () => spawnWorker(ENTRY));
    const pool = new GradientWorkers(workers);
    try {
      const replies = await Promise.all(workers.map((w) => pool.request(w, { type: 'init', config, backend })));
      for (const r of replies) {
        if (r.type !== 'ready') throw new Error(`gradient worker: expected ready, got ${r.type}`);
        if (r.parameters.join(',') !== parameterSizes.join(',')) {
          throw new Error('train/data-parallel: the worker replica has other parameters than the model being trained (a logits adapter is not supported with workers > 1)');
        }
      }
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  /** Gradients of `shards[k]` from worker k at `weights` (one array per parameter, copied to each worker). */
  async compute(weights: Float32Array[], shards: PackedArrays[]): Promise<WorkerShardResult[]> {
    if (shards.length > this.workers.length) throw new Error(`train/data-parallel: ${shards.length} shards for ${this.workers.length} workers`);
    const replies = await Promise.all(shards.map((packed, k) => this.request(this.workers[k]!, { type: 'grads', weights, packed })));
    return replies.map((r) => {
      if (r.type !== 'grads') throw new Error(`gradient worker: expected grads, got ${r.type}`);
      return { loss: r.loss, tokens: r.tokens, grads: r.grads };
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private request(worker: Worker, msg: WorkerRequest): Promise<WorkerReply> {
    return new Promise((resolve, reject) => {
      const onMessage = (reply: WorkerReply) => {
        cleanup();
        if (reply.type === 'error') reject(new Error(`gradient worker failed: ${reply.message}`));
        else resolve(reply);
      };
      const onError = (e: Error) => {
        cleanup();
        reject(new Error(`gradient worker crashed: ${e.message}`));
      };
      const onExit = (code: number) => {
        cleanup();
        reject(new Error(`gradient worker exited with code ${code}`));
      };
      const cleanup = () => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      worker.postMessage(msg);
    });
  }
}
