import * as tf from '@tensorflow/tfjs-core';
import type { Worker } from 'node:worker_threads';
import type { BackendName } from '../backend';
import { generate, type GenerateOptions, type GenerateResult } from '../generation/generate';
import { deriveSeed } from '../generation/rng';
import type { CausalLM } from '../model/causal-lm';
import { modelTokenStats } from '../model/model-token-stats';
import { toPackedBatch, type PackedArrays } from '../ops/pack-batch';
import type { Tokenizer, TokenizerFiles } from '../tokenizer/tokenizer';
import { COMMAND_ABORT, COMMAND_GO, COMMAND_STATS, GradChannel, MAX_CHANNEL_TEMPERATURES } from './grad-channel';
import { replicaVariables } from './replica-variables';
import { rowShares, slicePackedRows } from './row-shares';
import { spawnWorker } from './spawn-worker';
import type { ReplicaSpec, WorkerForwardOptions, WorkerReply, WorkerRequest } from './worker-protocol';

// This module's own extension: `.ts` from the sources (tsx, vitest), `.js` in the built package (dist/).
const OWN_EXTENSION = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
const ENTRY = new URL(`./model-worker-entry${OWN_EXTENSION}`, import.meta.url);
/** How long the trainer's thread waits for a worker's stats inside a gradient pass. */
const WAIT_MS = 10 * 60 * 1000;
/** Replicas a worker keeps (the policy and, for GRPO's KL, a frozen reference copy). */
const MAX_SLOTS = 2;

/**
 * Least work per share that is worth a thread. Below it a job runs on the calling thread alone:
 * - decoding: a step of a few rows is bound by per-token overhead (a small model) or by streaming
 *   the weights (a large one; each thread reads its own replica), which every thread pays again;
 * - passes (scoring, gradients): a few hundred tokens per share keep the GEMMs compute-bound.
 * Measured in docs/PERFORMANCE.md, "Both cores in every stage".
 */
export const SPLIT_MIN: Readonly<SplitThresholds> = { generateRows: 16, passTokens: 384 };

export interface SplitThresholds {
  /** Rows per share of a generate() call. */
  generateRows: number;
  /** Tokens (rows x T) per share of a scoring or gradient pass. */
  passTokens: number;
}

/** Shares of `rows` rows among at most `threads`, each with at least `minUnits` (rows x unitsPerRow). */
function sharesFor(rows: number, unitsPerRow: number, threads: number, minUnits: number): [number, number][] {
  const perShare = Math.max(1, Math.ceil(minUnits / Math.max(1, unitsPerRow)));
  return rowShares(rows, Math.max(1, Math.min(threads, Math.floor(rows / perShare))));
}

type DataId = object;
const dataIdOf = (v: tf.Variable): DataId => (v as unknown as { dataId: DataId }).dataId;

interface SlotState {
  name: string;
  model: WeakRef<CausalLM>;
  /** The replica's config, stop ids and tokenizer: a change rebuilds it. */
  specKey: string;
  /** Its LoRA adapter: a change replaces only the adapter (the base weights stay). */
  loraKey: string;
  synced: WeakMap<tf.Variable, DataId>;
  lastUse: number;
}

interface Pending {
  resolve: (r: WorkerReply) => void;
  reject: (e: Error) => void;
}

/** Why a model cannot run on the workers (null = it can). */
export function replicaUnsupported(model: CausalLM): string | null {
  if (model.getLogitsAdapter()) return 'a logits adapter is attached (its layers are not mirrored to worker threads)';
  return null;
}

/**
 * Worker threads that hold replicas of the trainer thread's models and take a share of the rows of
 * generation, scoring forward passes and gradient passes (issue #15: both cores in every stage;
 * the wasm backend runs one thread per instance, so a second core needs a second thread with its
 * own wasm instance, as PyTorch's DDP runs one process per device). Replicas are kept in sync
 * lazily: before each job every variable whose tensor changed since the last sync (a tfjs
 * Variable's data id changes on assign) is copied over, so an optimizer update costs one copy of
 * the trained parameters (the LoRA adapter's only, with LoRA).
 *
 * Splits are contiguous: with `threads` = workers + 1, the trainer's thread takes the first share
 * of rows and worker k the (k + 1)-th. Results are deterministic for a given seed and thread
 * count; generation draws each row from its own (seed, row) stream, so a row samples the same
 * tokens whatever thread it runs on, as long as its logits are the same. Holds threads: close().
 */
export class ModelWorkers {
  private readonly pending: Pending[][];
  private readonly slots: SlotState[] = [];
  private readonly slotOf = new WeakMap<CausalLM, SlotState>();
  private readonly tokenizerFiles = new WeakMap<Tokenizer, TokenizerFiles | null>();
  private failure: Error | null = null;
  private copied = 0;
  private clock = 0;
  private slotCounter = 0;
  /** A scalar in every split gradient pass's variable list: it keeps the worker rows' leaves on the tape. */
  private anchorVar: tf.Variable | null = null;

  private constructor(
    private readonly workers: Worker[],
    private readonly minShare: SplitThresholds,
  ) {
    this.pending = workers.map(() => []);
    workers.forEach((w, k) => {
      w.on('message', (reply: WorkerReply) => {
        const p = this.pending[k]!.shift();
        if (!p) return;
        if (reply.type === 'error') p.reject(new Error(`model worker ${k + 1}: ${reply.message}`));
        else p.resolve(reply);
      });
      const die = (e: Error) => {
        this.failure ??= e;
        for (const p of this.pending[k]!.splice(0)) p.reject(e);
      };
      w.on('error', (e) => die(new Error(`model worker ${k + 1} crashed: ${e.message}`)));
      w.on('exit', (code) => die(new Error(`model worker ${k + 1} exited (code ${code})`)));
    });
  }

  /**
   * Starts `count` worker threads on `backend` (the trainer thread's). `minShare` (default
   * SPLIT_MIN) sets the least work per share; tests pass 1 to split the smallest jobs.
   */
  static async start(count: number, backend: BackendName, opts: { minShare?: Partial<SplitThresholds> } = {}): Promise<ModelWorkers> {
    if (!Number.isInteger(count) || count < 1) throw new Error(`ModelWorkers.start: count must be a positive integer, got ${count}`);
    const pool = new ModelWorkers(
      Array.from({ length: count }, () => spawnWorker(ENTRY)),
      { ...SPLIT_MIN, ...opts.minShare },
    );
    try {
      await Promise.all(pool.workers.map((_, k) => pool.request(k, { type: 'init', backend })));
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  /** Worker threads (the trainer's own thread not counted). */
  get size(): number {
    return this.workers.length;
  }

  /** Float values copied to the workers so far (weight syncs; tests and benches). */
  get copiedValues(): number {
    return this.copied;
  }

  /** Threads that share the work: the workers and the calling thread. */
  get threads(): number {
    return this.workers.length + 1;
  }

  /**
   * Copies `model` to every worker (a whole replica the first time or when its config or LoRA
   * adapter changed, else only the variables that changed since the last sync). Returns the slot
   * the replicas live in. Messages are queued in order, so a job sent after this sees these weights.
   */
  mirror(model: CausalLM, tokenizer: Tokenizer | null = null): string {
    this.throwIfFailed();
    const why = replicaUnsupported(model);
    if (why) throw new Error(`ModelWorkers.mirror: ${why}; run this model with threads: 1`);
    const files = tokenizer ? this.filesOf(tokenizer) : null;
    const lora = model.getLora();
    const spec: ReplicaSpec = { config: model.config, stopTokenIds: model.stopTokenIds, lora: lora?.config ?? null, tokenizerFiles: files };
    const specKey = JSON.stringify({ config: spec.config, stop: spec.stopTokenIds, tok: tokenizer ? objectId(tokenizer) : null });
    const loraKey = JSON.stringify({ lora: spec.lora, id: lora ? objectId(lora) : null });
    let slot = this.slotOf.get(model);
    if (slot && slot.model.deref() !== model) slot = undefined;
    if (!slot || slot.specKey !== specKey) {
      if (!slot) {
        if (this.slots.length >= MAX_SLOTS) this.evictOldest();
        slot = { name: `m${this.slotCounter++}`, model: new WeakRef(model), specKey, loraKey, synced: new WeakMap(), lastUse: 0 };
        this.slots.push(slot);
        this.slotOf.set(model, slot);
      }
      slot.specKey = specKey;
      slot.loraKey = loraKey;
      slot.synced = new WeakMap();
      this.broadcast({ type: 'build', slot: slot.name, spec });
    } else if (slot.loraKey !== loraKey) {
      // An adapter attached, detached or replaced: new variables (sent below), the same base weights.
      slot.loraKey = loraKey;
      this.broadcast({ type: 'lora', slot: slot.name, lora: spec.lora });
    }
    slot.lastUse = ++this.clock;
    const names: string[] = [];
    const vars: tf.Variable[] = [];
    for (const [name, v] of replicaVariables(model)) {
      if (slot.synced.get(v) === dataIdOf(v)) continue;
      names.push(name);
      vars.push(v);
      slot.synced.set(v, dataIdOf(v));
    }
    if (names.length > 0) {
      for (let k = 0; k < this.workers.length; k++) {
        // A copy per worker: postMessage transfers (detaches) them.
        const values = vars.map((v) => new Float32Array(v.dataSync() as Float32Array));
        this.copied += values.reduce((n, a) => n + a.length, 0);
        this.post(k, { type: 'weights', slot: slot.name, names, values }, values.map((a) => a.buffer as ArrayBuffer));
      }
    }
    return slot.name;
  }

  /**
   * generate() with the rows shared among the threads. Every row draws from the stream its
   * 1-thread run would use (`rowSeeds`, else (seed, row)); stop strings are matched by each
   * worker's copy of the tokenizer.
   */
  async generate(model: CausalLM, tokenizer: Tokenizer | null, promptIds: number[][], options: GenerateOptions = {}): Promise<GenerateResult> {
    const shares = sharesFor(promptIds.length, 1, this.threads, this.minShare.generateRows);
    const stopStrings = [...(options.stopStrings?.strings ?? [])];
    if (shares.length < 2 || (stopStrings.length > 0 && !(tokenizer && this.filesOf(tokenizer)))) return generate(model, promptIds, options);
    const slot = this.mirror(model, tokenizer);
    const rowSeeds = options.rowSeeds ?? promptIds.map((_, b) => deriveSeed(options.seed ?? 0, b));
    const { stopStrings: _unused, ...plain } = options;
    const jobs = shares.slice(1).map(([s, e], k) =>
      this.request(k, {
        type: 'generate',
        slot,
        promptIds: promptIds.slice(s, e),
        options: { ...stripUndefined(plain), rowSeeds: rowSeeds.slice(s, e), stopStrings },
      }),
    );
    const [s0, e0] = shares[0]!;
    let own: GenerateResult;
    try {
      own = await generate(model, promptIds.slice(s0, e0), { ...options, rowSeeds: rowSeeds.slice(s0, e0) });
    } finally {
      await Promise.allSettled(jobs);
    }
    const parts = [own, ...(await Promise.all(jobs)).map((r) => (r as Extract<WorkerReply, { type: 'generated' }>).result)];
    return {
      tokens: parts.flatMap((p) => p.tokens),
      logprobs: parts.flatMap((p) => p.logprobs),
      finishReasons: parts.flatMap((p) => p.finishReasons),
      numGeneratedTokens: parts.reduce((n, p) => n + p.numGeneratedTokens, 0),
    };
  }

  /**
   * No-grad per-token log-probs and entropies of a packed batch at one temperature, rows shared
   * among the threads: [B * T] each, row-major (GRPO's old and reference log-probs).
   */
  async tokenStats(
    model: CausalLM,
    packed: PackedArrays,
    temperature: number,
    opts: { forward?: WorkerForwardOptions; logitsBudgetBytes?: number } = {},
  ): Promise<{ logProbs: Float32Array; entropy: Float32Array }> {
    const shares = sharesFor(packed.batchSize, packed.seqLen, this.threads, this.minShare.passTokens);
    const slot = shares.length > 1 ? this.mirror(model) : '';
    const jobs = shares.slice(1).map(([s, e], k) =>
      this.request(k, { type: 'stats', slot, packed: slicePackedRows(packed, s, e), temperatures: [temperature], forward: opts.forward ?? {}, logitsBudgetBytes: opts.logitsBudgetBytes }),
    );
    const [s0, e0] = shares[0]!;
    let own: { logProbs: Float32Array; entropy: Float32Array };
    try {
      own = tf.tidy(() => {
        const stats = modelTokenStats(model, toPackedBatch(shares.length > 1 ? slicePackedRows(packed, s0, e0) : packed), opts);
        try {
          const s = stats.at(temperature);
          return { logProbs: new Float32Array(s.logProbs.dataSync() as Float32Array), entropy: new Float32Array(s.entropy.dataSync() as Float32Array) };
        } finally {
          stats.dispose();
        }
      });
    } finally {
      await Promise.allSettled(jobs);
    }
    const parts = [own, ...(await Promise.all(jobs)).map((r) => {
      const s = r as Extract<WorkerReply, { type: 'stats' }>;
      return { logProbs: s.logProbs[0]!, entropy: s.entropy[0]! };
    })];
    return { logProbs: concatArrays(parts.map((p) => p.logProbs)), entropy: concatArrays(parts.map((p) => p.entropy)) };
  }

  /**
   * Starts the workers' halves of one gradient pass over `packed` (a micro-batch): each worker
   * forwards its rows at once; the caller computes its own rows (`pass.own`) inside its
   * tf.variableGrads closure, with `pass.anchor` in the variable list. See SplitGradPass.
   */
  startGradPass(
    model: CausalLM,
    packed: PackedArrays,
    opts: { temperature: number; training?: { seed: number; rowOffset: number }; logitsBudgetBytes?: number },
  ): SplitGradPass | null {
    const shares = sharesFor(packed.batchSize, packed.seqLen, this.threads, this.minShare.passTokens);
    if (shares.length < 2) return null;
    const slot = this.mirror(model);
    this.anchorVar ??= tf.variable(tf.scalar(0), true, `emrl_split_grad_anchor_${objectId(this)}`);
    const workers = shares.slice(1).map(([s, e], k) => {
      const rows = slicePackedRows(packed, s, e);
      const n = rows.batchSize * rows.seqLen;
      const channel = GradChannel.create(n);
      const training = opts.training ? { seed: opts.training.seed, rowOffset: opts.training.rowOffset + s } : undefined;
      const job = this.request(k, {
        type: 'grads',
        slot,
        packed: rows,
        forward: training ? { training } : {},
        logitsBudgetBytes: opts.logitsBudgetBytes,
        eagerTemperature: opts.temperature,
        channel: channel.buffer,
        n,
      });
      job.catch(() => undefined); // observed by gradients() / abort()
      return { channel, job, rows: e - s, seqLen: rows.seqLen };
    });
    const [s0, e0] = shares[0]!;
    return new SplitGradPass(slicePackedRows(packed, s0, e0), s0, this.anchorVar, workers);
  }

  /** Live tensors on each worker (tests: memory stays flat). */
  async workerTensorCounts(): Promise<number[]> {
    const replies = await Promise.all(this.workers.map((_, k) => this.request(k, { type: 'memory' })));
    return replies.map((r) => (r as Extract<WorkerReply, { type: 'memory' }>).numTensors);
  }

  async close(): Promise<void> {
    this.anchorVar?.dispose();
    this.anchorVar = null;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private filesOf(tokenizer: Tokenizer): TokenizerFiles | null {
    if (!this.tokenizerFiles.has(tokenizer)) this.tokenizerFiles.set(tokenizer, tokenizer.toFiles?.() ?? null);
    return this.tokenizerFiles.get(tokenizer)!;
  }

  private evictOldest(): void {
    this.slots.sort((a, b) => a.lastUse - b.lastUse);
    const old = this.slots.shift()!;
    const m = old.model.deref();
    if (m) this.slotOf.delete(m);
    this.broadcast({ type: 'drop', slot: old.name });
  }

  private broadcast(msg: WorkerRequest): void {
    for (let k = 0; k < this.workers.length; k++) this.post(k, msg);
  }

  /** Fire and forget, in order; a failure surfaces on the next request. */
  private post(k: number, msg: WorkerRequest, transfer: ArrayBuffer[] = []): void {
    this.send(k, msg, transfer).catch((e: Error) => {
      this.failure ??= e;
    });
  }

  private request(k: number, msg: WorkerRequest): Promise<WorkerReply> {
    this.throwIfFailed();
    return this.send(k, msg, []);
  }

  private send(k: number, msg: WorkerRequest, transfer: ArrayBuffer[]): Promise<WorkerReply> {
    return new Promise((resolve, reject) => {
      this.pending[k]!.push({ resolve, reject });
      this.workers[k]!.postMessage(msg, transfer);
    });
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
}

/**
 * One gradient pass split between the trainer's thread and the workers (grad-channel.ts). Inside
 * its tf.variableGrads closure the caller forwards `own` (rows [ownStart, ownStart + own rows)),
 * and for each temperature a term asks for, concatenates its stats with `workerStats(tau)`. The
 * first backward step through those leaves sends the upstream gradients to the workers, whose
 * backward then runs alongside the caller's. After the closure: `finish()`, then `gradients()`.
 */
export class SplitGradPass {
  private readonly temperatures: number[] = [];
  /** Captured dL/d(leaf) per temperature, per worker: [2 * n] (logProbs then entropy). */
  private readonly upstream: (Float32Array | null)[][] = [];
  private sent = false;

  constructor(
    readonly own: PackedArrays,
    readonly ownStart: number,
    /** Put in the variable list of the caller's tf.variableGrads (its gradient is 0; drop it). */
    readonly anchor: tf.Variable,
    private readonly workers: { channel: GradChannel; job: Promise<WorkerReply>; rows: number; seqLen: number }[],
  ) {}

  /** Threads this pass runs on (the caller's and the workers'). */
  get threads(): number {
    return this.workers.length + 1;
  }

  /** The workers' rows at `tau`, in order: leaves on the caller's tape ([rows, T] each). Blocks until they are computed. */
  workerStats(tau: number): { logProbs: tf.Tensor2D; entropy: tf.Tensor2D }[] {
    if (this.sent) throw new Error('SplitGradPass: stats asked for after the backward pass started');
    let j = this.temperatures.indexOf(tau);
    if (j >= 0) throw new Error(`SplitGradPass: temperature ${tau} asked for twice (cache it)`);
    if (this.temperatures.length >= MAX_CHANNEL_TEMPERATURES) throw new Error(`SplitGradPass: more than ${MAX_CHANNEL_TEMPERATURES} temperatures in one pass`);
    j = this.temperatures.push(tau) - 1;
    this.upstream.push(this.workers.map(() => null));
    return this.workers.map((w, k) => {
      const seen = Atomics.load(w.channel.control, 0);
      w.channel.command(COMMAND_STATS, tau);
      w.channel.waitBeyond(0, seen, WAIT_MS, `token statistics at temperature ${tau}`);
      const err = w.channel.failed();
      if (err) throw new Error(`model worker ${k + 1}: ${err}`);
      const data = new Float32Array(w.channel.stats); // [2 * n]
      const leaf = tf.tensor3d(data, [2, w.rows, w.seqLen]);
      const captured = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
        const [x, anchor] = inputs as [tf.Tensor, tf.Tensor];
        return {
        value: tf.clone(x),
        gradFunc: (dy: tf.Tensor | tf.Tensor[]) => {
          this.capture(j, k, (dy as tf.Tensor).dataSync() as Float32Array);
          return [tf.zerosLike(x), tf.zerosLike(anchor)];
        },
        };
      })(leaf, this.anchor) as tf.Tensor3D;
      const [lp, en] = tf.unstack(captured, 0) as [tf.Tensor2D, tf.Tensor2D];
      return { logProbs: lp, entropy: en };
    });
  }

  /** After the caller's gradient closure returned (or threw): releases the workers' backward. */
  finish(): void {
    if (!this.sent) this.go();
  }

  /** Stops the workers' halves (the caller's pass failed before its backward). */
  abort(): void {
    if (this.sent) return;
    this.sent = true;
    for (const w of this.workers) w.channel.command(COMMAND_ABORT);
  }

  /** The workers' parameter gradients, keyed like replicaVariables(), in worker order. */
  async gradients(): Promise<Map<string, Float32Array>[]> {
    const replies = await Promise.all(this.workers.map((w) => w.job));
    return replies.map((r) => {
      const g = r as Extract<WorkerReply, { type: 'grads' }>;
      return new Map(g.names.map((name, i) => [name, g.values[i]!]));
    });
  }

  private capture(j: number, k: number, dy: Float32Array): void {
    this.upstream[j]![k] = new Float32Array(dy);
    if (this.upstream.every((perWorker) => perWorker.every((u) => u !== null))) this.go();
  }

  private go(): void {
    if (this.sent) return;
    this.sent = true;
    this.workers.forEach((w, k) => {
      this.upstream.forEach((perWorker, j) => {
        const u = perWorker[k];
        const n = w.rows * w.seqLen;
        if (u) w.channel.upstream.set(u, 2 * j * n);
        else w.channel.upstream.fill(0, 2 * j * n, 2 * (j + 1) * n); // not on the loss's path
      });
      w.channel.command(COMMAND_GO, 0, this.temperatures.length);
    });
  }
}

const ids = new WeakMap<object, number>();
let nextId = 1;
function objectId(o: object): number {
  let id = ids.get(o);
  if (id === undefined) ids.set(o, (id = nextId++));
  return id;
}

function concatArrays(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
