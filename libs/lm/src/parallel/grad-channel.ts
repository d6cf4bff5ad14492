/**
 * A shared-memory channel between the trainer's thread and one worker thread for ONE gradient pass
 * over the worker's rows (model-workers.ts). The pass is split at the per-token statistics:
 *
 *   worker: forward its rows -> stats S_w (kept on its tape) --stats(tau)--> main
 *   main:   loss of all rows from [S_main, S_w]; its backward reaches dL/dS_w first --go(U)--> worker
 *   worker: backward of sum(S_w * U) -> parameter gradients (posted back as a message)
 *
 * so both threads run their forward and their backward at the same time, and no loss term has to
 * exist on the worker. The worker's gradient closure blocks in Atomics.wait between the two halves
 * (its tape stays open); the trainer's thread blocks only while the worker answers a stats request.
 *
 * Layout of the SharedArrayBuffer (byte offsets):
 *   0    Int32 x 8   control: [replies, commands, command, status, taus, -, -, -]
 *   32   Float64     the temperature of a stats command
 *   64   4096 bytes  UTF-8 error text (status = error)
 *   4160 Float32     stats of one temperature: logProbs [n] then entropy [n] (n = rows * T)
 *   then Float32     upstream gradients: for each requested temperature, dLogProbs [n], dEntropy [n]
 */

export const COMMAND_STATS = 1;
export const COMMAND_GO = 2;
export const COMMAND_ABORT = 3;

export const STATUS_OK = 0;
export const STATUS_ERROR = 1;

/** At most this many distinct temperatures per gradient pass (the built-in terms use one or two). */
export const MAX_CHANNEL_TEMPERATURES = 8;

const CONTROL_INTS = 8;
const TAU_OFFSET = 32;
const ERROR_OFFSET = 64;
const ERROR_BYTES = 4096;
const DATA_OFFSET = ERROR_OFFSET + ERROR_BYTES;

/** Views over one channel's shared buffer; `n` = rows * T of the worker's share. */
export class GradChannel {
  readonly control: Int32Array;
  readonly tau: Float64Array;
  readonly errorText: Uint8Array;
  /** logProbs [n] then entropy [n] of the last stats command. */
  readonly stats: Float32Array;
  /** Per requested temperature i: dLogProbs at [2 i n, (2 i + 1) n), dEntropy after it. */
  readonly upstream: Float32Array;

  constructor(
    readonly buffer: SharedArrayBuffer,
    readonly n: number,
  ) {
    this.control = new Int32Array(buffer, 0, CONTROL_INTS);
    this.tau = new Float64Array(buffer, TAU_OFFSET, 1);
    this.errorText = new Uint8Array(buffer, ERROR_OFFSET, ERROR_BYTES);
    this.stats = new Float32Array(buffer, DATA_OFFSET, 2 * n);
    this.upstream = new Float32Array(buffer, DATA_OFFSET + 8 * n, 2 * n * MAX_CHANNEL_TEMPERATURES);
  }

  static create(n: number): GradChannel {
    return new GradChannel(new SharedArrayBuffer(DATA_OFFSET + 8 * n * (1 + MAX_CHANNEL_TEMPERATURES)), n);
  }

  /** Worker side: records an error for a waiting main thread and wakes it. */
  fail(message: string): void {
    const bytes = new TextEncoder().encode(message).subarray(0, ERROR_BYTES - 1);
    this.errorText.fill(0);
    this.errorText.set(bytes);
    Atomics.store(this.control, 3, STATUS_ERROR);
    this.reply();
  }

  failed(): string | null {
    if (Atomics.load(this.control, 3) !== STATUS_ERROR) return null;
    const end = this.errorText.indexOf(0);
    return new TextDecoder().decode(this.errorText.slice(0, end < 0 ? undefined : end));
  }

  /** Worker -> main: one more reply is ready. */
  reply(): void {
    Atomics.add(this.control, 0, 1);
    Atomics.notify(this.control, 0);
  }

  /** Main -> worker: one more command is ready (its fields written first). */
  command(kind: number, tau = 0, taus = 0): void {
    Atomics.store(this.control, 2, kind);
    this.tau[0] = tau;
    Atomics.store(this.control, 4, taus);
    Atomics.add(this.control, 1, 1);
    Atomics.notify(this.control, 1);
  }

  /**
   * Blocks until slot `index` (0 = replies, 1 = commands) exceeds `seen`; throws after `timeoutMs`
   * (a worker that died without answering; the trainer's thread must not hang forever).
   */
  waitBeyond(index: 0 | 1, seen: number, timeoutMs: number, what: string): void {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const now = Atomics.load(this.control, index);
      if (now > seen) return;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`model worker: no ${what} within ${Math.round(timeoutMs / 1000)} s; the worker thread stopped answering`);
      Atomics.wait(this.control, index, now, Math.min(left, 1000));
    }
  }
}
