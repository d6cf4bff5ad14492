import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from '../config';
import { createRng, deriveSeed, hashString } from '../generation/rng';
import { weightSpecs } from '../model/weights';
import { loraDropoutMask, type DropoutRows } from './lora-dropout';
import { LORA_TARGETS, loraScale, parseLoraConfig, type LoraConfig, type LoraConfigInput } from './lora-config';

/** One adapted projection. Stored so x [N, in] @ a [in, r] @ b [r, out] needs no transpose. */
export interface LoraPair {
  a: tf.Variable; // [in, r]  (PEFT lora_A.weight is [r, in])
  b: tf.Variable; // [r, out] (PEFT lora_B.weight is [out, r])
}

/** A trainable variable that takes over `t` (the tensor handle is released, its data lives on in the variable). */
function ownedVariable(t: tf.Tensor): tf.Variable {
  const v = tf.variable(t, true);
  t.dispose();
  return v;
}

/** PEFT's saved tensor names: base_model.model.<module>.lora_A.weight / lora_B.weight. */
export function peftTensorName(module: string, which: 'A' | 'B'): string {
  return `base_model.model.${module}.lora_${which}.weight`;
}

/**
 * Modules of a config that `targetModules` select, with their [in, out] sizes, in weight order.
 * PEFT matches a target name against the last component of the module path. A target that matches
 * nothing is an error naming the modules that exist.
 */
export function loraModules(config: ModelConfig, targets: readonly string[]): { module: string; inDim: number; outDim: number }[] {
  const known: readonly string[] = LORA_TARGETS[config.family];
  for (const t of targets) {
    if (!known.includes(t)) {
      throw new Error(`lora: targetModules entry "${t}" is not a linear projection of a ${config.modelType} model; use some of ${known.join(', ')}`);
    }
  }
  const out: { module: string; inDim: number; outDim: number }[] = [];
  for (const s of weightSpecs(config)) {
    if (!s.name.endsWith('.weight') || s.shape.length !== 2 || s.name === 'lm_head.weight') continue;
    const module = s.name.slice(0, -'.weight'.length);
    const leaf = module.split('.').pop()!;
    if (targets.includes(leaf)) out.push({ module, inDim: s.shape[0]!, outDim: s.shape[1]! });
  }
  return out;
}

/**
 * LoRA adapter (Hu et al., arXiv 2106.09685) with PEFT's semantics: for each target projection,
 * y = x W + s * dropout(x) A B (internal [in, out] layout), s = alpha / r. Init as PEFT's
 * init_lora_weights=True: A ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform with a = sqrt(5)),
 * B = 0, so an attached adapter starts as the identity. Owns its variables.
 */
export class LoraAdapter {
  readonly config: LoraConfig;
  readonly scale: number;

  private constructor(
    config: LoraConfig,
    readonly baseModelType: string,
    readonly pairs: Map<string, LoraPair>,
  ) {
    this.config = config;
    this.scale = loraScale(config);
  }

  /** A fresh adapter for `model` (seeded, deterministic on every backend). */
  static create(model: ModelConfig, input: LoraConfigInput | LoraConfig, seed: number): LoraAdapter {
    const config = parseLoraConfig(input);
    const pairs = new Map<string, LoraPair>();
    for (const { module, inDim, outDim } of loraModules(model, config.targetModules)) {
      const rng = createRng(deriveSeed(seed, hashString(`${module}.lora_A`)));
      const bound = 1 / Math.sqrt(inDim);
      const a = Float32Array.from({ length: inDim * config.r }, () => (2 * rng.nextFloat() - 1) * bound);
      // Unnamed variables: tfjs names must be unique process-wide, and several adapters may coexist
      // (policy and reference copies); namedVariables() gives the stable PEFT names.
      pairs.set(module, { a: ownedVariable(tf.tensor2d(a, [inDim, config.r])), b: ownedVariable(tf.zeros([config.r, outDim])) });
    }
    return new LoraAdapter(config, model.modelType, pairs);
  }

  /** An adapter from PEFT-layout tensors (lora_A [r, in], lora_B [out, r]); shapes are checked against `model`. */
  static fromPeftTensors(model: ModelConfig, config: LoraConfig, tensors: Map<string, tf.Tensor>, source: string): LoraAdapter {
    const pairs = new Map<string, LoraPair>();
    const used = new Set<string>();
    for (const { module, inDim, outDim } of loraModules(model, config.targetModules)) {
      const get = (which: 'A' | 'B', shape: [number, number]): tf.Tensor => {
        const name = peftTensorName(module, which);
        const t = tensors.get(name);
        if (!t) throw new Error(`${source}: missing tensor ${name} [${shape.join(', ')}]; the adapter does not cover target ${module.split('.').pop()} of this ${model.modelType} model`);
        if (t.shape.length !== 2 || t.shape[0] !== shape[0] || t.shape[1] !== shape[1]) {
          throw new Error(`${source}: tensor ${name} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]: the adapter was made for another base model (or another r)`);
        }
        used.add(name);
        return t;
      };
      const a = get('A', [config.r, inDim]);
      const b = get('B', [outDim, config.r]);
      pairs.set(module, {
        a: ownedVariable(tf.tidy(() => tf.transpose(tf.cast(a, 'float32')))),
        b: ownedVariable(tf.tidy(() => tf.transpose(tf.cast(b, 'float32')))),
      });
    }
    const extra = [...tensors.keys()].filter((n) => !used.has(n));
    if (extra.length > 0) {
      for (const p of pairs.values()) tf.dispose([p.a, p.b]);
      throw new Error(`${source}: tensor ${extra.slice(0, 3).join(', ')}${extra.length > 3 ? ` and ${extra.length - 3} more` : ''} not used by target_modules ${JSON.stringify(config.targetModules)} of this ${model.modelType} model; the adapter was made for another base model or config`);
    }
    return new LoraAdapter(config, model.modelType, pairs);
  }

  /**
   * s * dropout(x) A B for `module`, or null when the module is not adapted. x [N, in] -> [N, out].
   * Dropout (PEFT's lora_dropout on the adapter input) acts only in train mode, i.e. when `train`
   * gives the rows and positions of x; its masks are deterministic (loraDropoutMask).
   */
  delta(x: tf.Tensor2D, module: string, train?: DropoutRows): tf.Tensor2D | null {
    const p = this.pairs.get(module);
    if (!p) return null;
    const rate = this.config.dropout;
    const xin = train && rate > 0 ? tf.mul(x, tf.tensor2d(loraDropoutMask(rate, module, train, x.shape[1]), x.shape)) : x;
    return tf.mul(tf.matMul(tf.matMul(xin, p.a as tf.Tensor2D), p.b as tf.Tensor2D), this.scale) as tf.Tensor2D; // [N, out]
  }

  /** Exactly the trainable LoRA variables (A then B per module, in weight order). */
  variables(): tf.Variable[] {
    return [...this.pairs.values()].flatMap((p) => [p.a, p.b]);
  }

  /** The variables keyed by PEFT tensor name (stable names for optimizer state). */
  namedVariables(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const [m, p] of this.pairs) {
      out.set(peftTensorName(m, 'A'), p.a);
      out.set(peftTensorName(m, 'B'), p.b);
    }
    return out;
  }

  /** PEFT-layout tensors (lora_A [r, in], lora_B [out, r]); new tensors the caller disposes. */
  toPeftTensors(): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    for (const [m, p] of this.pairs) {
      out.set(peftTensorName(m, 'A'), tf.transpose(p.a));
      out.set(peftTensorName(m, 'B'), tf.transpose(p.b));
    }
    return out;
  }

  /** W + s A B for one module ([in, out] internal layout); a new tensor. */
  mergedWeight(module: string, w: tf.Tensor): tf.Tensor {
    const p = this.pairs.get(module);
    if (!p) return tf.clone(w);
    return tf.tidy(() => tf.add(w, tf.mul(tf.matMul(p.a as tf.Tensor2D, p.b as tf.Tensor2D), this.scale)));
  }

  clone(): LoraAdapter {
    const pairs = new Map<string, LoraPair>();
    for (const [m, p] of this.pairs) pairs.set(m, { a: tf.variable(p.a, true), b: tf.variable(p.b, true) });
    return new LoraAdapter(this.config, this.baseModelType, pairs);
  }

  numParameters(): number {
    return this.variables().reduce((n, v) => n + v.size, 0);
  }

  dispose(): void {
    for (const p of this.pairs.values()) tf.dispose([p.a, p.b]);
    this.pairs.clear();
  }
}
