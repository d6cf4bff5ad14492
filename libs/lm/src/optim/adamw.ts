import * as tf from '@tensorflow/tfjs-core';
import { OptimizerConfigSchema, type OptimizerConfig, type OptimizerConfigInput } from './config';
import { lrAt } from './schedule';

interface Slot {
  m: tf.Variable; // first moment, shape of the parameter
  v: tf.Variable; // second moment
  step: number; // updates applied to this parameter (torch keeps it per parameter too)
}

/** Gradients keyed by variable name (tf.variableGrads output), by name in a Map, or by the Variable itself. */
export type GradientsInput = tf.NamedTensorMap | Map<string | tf.Variable, tf.Tensor>;

export interface AdamWOptions {
  /**
   * Stable names for state(): with a Map (e.g. CausalLM.weights, keyed by Hugging Face names) the
   * moments are saved under those names, whichever key the gradients use (Map name, tfjs
   * Variable.name or the Variable). Variables not listed are named by Variable.name.
   */
  variables?: tf.Variable[] | Map<string, tf.Variable>;
  /** Which parameters get weight decay (default: all, as torch.optim.AdamW with one param group). */
  decayFilter?: (name: string, variable: tf.Variable) => boolean;
}

/**
 * AdamW with decoupled weight decay (Loshchilov & Hutter, arXiv 1711.05101), step for step as
 * torch.optim.AdamW: p *= 1 - lr * wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
 * p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
 * Moments live in non-trainable tf.Variables keyed by the parameter's name.
 */
export class AdamW {
  readonly config: OptimizerConfig;
  /** Optimizer steps taken (calls of applyGradients); drives the default lr schedule. */
  iterations = 0;
  private readonly slots = new Map<string, Slot>();
  private readonly byName = new Map<string, tf.Variable>();
  private readonly nameOf = new Map<tf.Variable, string>();
  private readonly decayFilter: (name: string, variable: tf.Variable) => boolean;

  constructor(config: OptimizerConfigInput | OptimizerConfig, opts: AdamWOptions = {}) {
    const parsed = OptimizerConfigSchema.safeParse(config);
    if (!parsed.success) throw new Error(`optim/adamw.ts: invalid optimizer config: ${parsed.error.message}`);
    this.config = parsed.data;
    const named: [string, tf.Variable][] =
      opts.variables instanceof Map ? [...opts.variables] : (opts.variables ?? []).map((v) => [v.name, v]);
    for (const [k, v] of named) {
      this.byName.set(k, v);
      this.nameOf.set(v, k);
    }
    this.decayFilter = opts.decayFilter ?? (() => true);
  }

  /** Learning rate the next applyGradients call uses when none is passed. */
  currentLr(): number {
    return lrAt(this.config.schedule, this.config.lr, this.iterations);
  }

  /** One AdamW update for every gradient given; `lr` defaults to the schedule at `iterations`. */
  applyGradients(grads: GradientsInput, lr: number = this.currentLr()): void {
    const [b1, b2] = this.config.betas;
    const { eps, weightDecay } = this.config;
    const entries: [string | tf.Variable, tf.Tensor][] = grads instanceof Map ? [...grads] : Object.entries(grads);
    for (const [key, g] of entries) {
      const [name, param] = this.resolve(key);
      if (g.shape.join(',') !== param.shape.join(',')) {
        throw new Error(`optim/adamw.ts: gradient for "${name}" has shape [${g.shape}] but the variable has [${param.shape}]`);
      }
      const slot = this.slot(name, param);
      slot.step += 1;
      const bc1 = 1 - Math.pow(b1, slot.step);
      const bc2 = 1 - Math.pow(b2, slot.step);
      const wd = this.decayFilter(name, param) ? weightDecay : 0;
      tf.tidy(() => {
        const m = tf.add(tf.mul(slot.m, b1), tf.mul(g, 1 - b1));
        const v = tf.add(tf.mul(slot.v, b2), tf.mul(tf.square(g), 1 - b2));
        slot.m.assign(m);
        slot.v.assign(v);
        const decayed = wd > 0 ? tf.mul(param, 1 - lr * wd) : param;
        const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(bc2)), eps);
        param.assign(tf.sub(decayed, tf.mul(tf.div(m, denom), lr / bc1)));
      });
    }
    this.iterations += 1;
  }

  /** Moments and counters as named tensors for checkpoints: `<name>/m`, `<name>/v`, `<name>/step`, `optimizer/iterations`. */
  state(): tf.NamedTensorMap {
    const out: tf.NamedTensorMap = { 'optimizer/iterations': tf.scalar(this.iterations, 'int32') };
    for (const [name, s] of this.slots) {
      out[`${name}/m`] = tf.clone(s.m);
      out[`${name}/v`] = tf.clone(s.v);
      out[`${name}/step`] = tf.scalar(s.step, 'int32');
    }
    return out;
  }

  /** Restore from state(); copies the tensors (the caller still owns `state`). */
  loadState(state: tf.NamedTensorMap): void {
    this.disposeSlots();
    const it = state['optimizer/iterations'];
    this.iterations = it ? it.dataSync()[0]! : 0;
    for (const key of Object.keys(state)) {
      if (!key.endsWith('/m')) continue;
      const name = key.slice(0, -2);
      const m = state[key]!;
      const v = state[`${name}/v`];
      const step = state[`${name}/step`];
      if (!v || !step) throw new Error(`optim/adamw.ts: optimizer state has "${key}" but lacks "${name}/v" or "${name}/step"; save it with AdamW.state()`);
      this.slots.set(name, {
        m: tf.tidy(() => tf.variable(tf.cast(m, 'float32'), false)),
        v: tf.tidy(() => tf.variable(tf.cast(v, 'float32'), false)),
        step: step.dataSync()[0]!,
      });
    }
  }

  dispose(): void {
    this.disposeSlots();
  }

  private disposeSlots(): void {
    for (const s of this.slots.values()) tf.dispose([s.m, s.v]);
    this.slots.clear();
  }

  private resolve(key: string | tf.Variable): [string, tf.Variable] {
    const v = typeof key !== 'string' ? key : (this.byName.get(key) ?? tf.engine().registeredVariables[key]);
    if (!v) throw new Error(`optim/adamw.ts: no variable named "${key}"; pass it in AdamWOptions.variables or key gradients by Variable`);
    return [this.nameOf.get(v) ?? v.name, v];
  }

  private slot(name: string, param: tf.Variable): Slot {
    let s = this.slots.get(name);
    if (s && s.m.shape.join(',') !== param.shape.join(',')) {
      throw new Error(`optim/adamw.ts: loaded state for "${name}" has shape [${s.m.shape}] but the variable has [${param.shape}]`);
    }
    if (!s) {
      s = {
        // tidy frees the zeros; the variable keeps its own reference to the data
        m: tf.tidy(() => tf.variable(tf.zeros(param.shape), false)),
        v: tf.tidy(() => tf.variable(tf.zeros(param.shape), false)),
        step: 0,
      };
      this.slots.set(name, s);
    }
    return s;
  }
}
