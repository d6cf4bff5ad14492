// Test-only second implementation of the decoder in plain JS numbers, straight from the
// Hugging Face formulas and the Hugging Face weight layout (nn.Linear [out, in], Conv1D [in, out]).
// Slow by design; used to check CausalLM on tiny models.
import type { ModelConfig } from '../config';

export type HfArrays = Map<string, { shape: number[]; data: Float32Array }>;
type Vec = number[];

function row(w: { shape: number[]; data: Float32Array }, i: number): Vec {
  const d = w.shape[1]!;
  return Array.from(w.data.subarray(i * d, (i + 1) * d));
}

/** y = x @ W for W stored [in, out] (Conv1D), or x @ W^T for W stored [out, in] (nn.Linear). */
function affine(x: Vec, w: { shape: number[]; data: Float32Array }, layout: 'in_out' | 'out_in', b?: { data: Float32Array }): Vec {
  const [r, c] = w.shape as [number, number];
  const out = layout === 'in_out' ? c : r;
  const y = new Array<number>(out).fill(0);
  for (let o = 0; o < out; o++) {
    let s = b ? b.data[o]! : 0;
    for (let i = 0; i < x.length; i++) s += x[i]! * (layout === 'in_out' ? w.data[i * c + o]! : w.data[o * c + i]!);
    y[o] = s;
  }
  return y;
}

function layerNorm(x: Vec, g: Float32Array, b: Float32Array, eps: number): Vec {
  const m = x.reduce((a, v) => a + v, 0) / x.length;
  const v = x.reduce((a, u) => a + (u - m) ** 2, 0) / x.length;
  return x.map((u, i) => ((u - m) / Math.sqrt(v + eps)) * g[i]! + b[i]!);
}

function rmsNorm(x: Vec, g: Float32Array, eps: number): Vec {
  const ms = x.reduce((a, u) => a + u * u, 0) / x.length;
  return x.map((u, i) => (u / Math.sqrt(ms + eps)) * g[i]!);
}

function rope(x: Vec, pos: number, theta: number): Vec {
  const d = x.length;
  const h = d / 2;
  const out = x.slice();
  for (let i = 0; i < h; i++) {
    const a = pos * Math.pow(theta, (-2 * i) / d);
    out[i] = x[i]! * Math.cos(a) - x[i + h]! * Math.sin(a);
    out[i + h] = x[i + h]! * Math.cos(a) + x[i]! * Math.sin(a);
  }
  return out;
}

const gelu = (x: number): number => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
const silu = (x: number): number => x / (1 + Math.exp(-x));

/** Logits [T][V] for one sequence with its attention mask (positions with mask 0 are garbage). */
export function naiveForward(c: ModelConfig, w: HfArrays, ids: number[], mask: number[]): number[][] {
  const get = (n: string): { shape: number[]; data: Float32Array } => {
    const t = w.get(n);
    if (!t) throw new Error(`naiveForward: missing ${n}`);
    return t;
  };
  const gpt2 = c.family === 'gpt2';
  const T = ids.length;
  let run = 0;
  const pos = mask.map((m) => Math.max((run += m) - 1, 0));
  const emb = get(gpt2 ? 'transformer.wte.weight' : 'model.embed_tokens.weight');
  let xs: Vec[] = ids.map((id, t) => {
    const e = row(emb, id);
    return gpt2 ? e.map((v, i) => v + row(get('transformer.wpe.weight'), pos[t]!)[i]!) : e;
  });
  const H = c.numHeads;
  const G = c.numHeads / c.numKvHeads;
  const hd = c.headDim;
  for (let l = 0; l < c.numLayers; l++) {
    const p = gpt2 ? `transformer.h.${l}` : `model.layers.${l}`;
    const n1 = xs.map((x) => (gpt2 ? layerNorm(x, get(`${p}.ln_1.weight`).data, get(`${p}.ln_1.bias`).data, c.normEps) : rmsNorm(x, get(`${p}.input_layernorm.weight`).data, c.normEps)));
    const q: Vec[] = [];
    const k: Vec[] = [];
    const v: Vec[] = [];
    for (const x of n1) {
      if (gpt2) {
        const qkv = affine(x, get(`${p}.attn.c_attn.weight`), 'in_out', get(`${p}.attn.c_attn.bias`));
        const d = c.hiddenSize;
        q.push(qkv.slice(0, d));
        k.push(qkv.slice(d, 2 * d));
        v.push(qkv.slice(2 * d));
      } else {
        const b = (n: string): { data: Float32Array } | undefined => (c.attentionBias ? get(`${p}.self_attn.${n}.bias`) : undefined);
        q.push(affine(x, get(`${p}.self_attn.q_proj.weight`), 'out_in', b('q_proj')));
        k.push(affine(x, get(`${p}.self_attn.k_proj.weight`), 'out_in', b('k_proj')));
        v.push(affine(x, get(`${p}.self_attn.v_proj.weight`), 'out_in', b('v_proj')));
      }
    }
    const headOf = (vec: Vec, h: number): Vec => vec.slice(h * hd, (h + 1) * hd);
    const att: Vec[] = xs.map(() => []);
    for (let h = 0; h < H; h++) {
      const kvh = Math.floor(h / G); // HF repeat_kv order
      for (let i = 0; i < T; i++) {
        let qi = headOf(q[i]!, h);
        if (!gpt2) qi = rope(qi, pos[i]!, c.ropeTheta);
        const scores: number[] = [];
        const js: number[] = [];
        for (let j = 0; j <= i; j++) {
          if (!mask[j]) continue;
          let kj = headOf(k[j]!, kvh);
          if (!gpt2) kj = rope(kj, pos[j]!, c.ropeTheta);
          scores.push(qi.reduce((a, u, d) => a + u * kj[d]!, 0) / Math.sqrt(hd));
          js.push(j);
        }
        const m = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - m));
        const z = e.reduce((a, u) => a + u, 0);
        const o = new Array<number>(hd).fill(0);
        js.forEach((j, n) => headOf(v[j]!, kvh).forEach((u, d) => (o[d] += (e[n]! / z) * u)));
        att[i]!.push(...o);
      }
    }
    const proj = att.map((a) => (gpt2 ? affine(a, get(`${p}.attn.c_proj.weight`), 'in_out', get(`${p}.attn.c_proj.bias`)) : affine(a, get(`${p}.self_attn.o_proj.weight`), 'out_in')));
    xs = xs.map((x, t) => x.map((u, i) => u + proj[t]![i]!));
    const n2 = xs.map((x) => (gpt2 ? layerNorm(x, get(`${p}.ln_2.weight`).data, get(`${p}.ln_2.bias`).data, c.normEps) : rmsNorm(x, get(`${p}.post_attention_layernorm.weight`).data, c.normEps)));
    const ff = n2.map((x) => {
      if (gpt2) {
        const hdn = affine(x, get(`${p}.mlp.c_fc.weight`), 'in_out', get(`${p}.mlp.c_fc.bias`)).map(gelu);
        return affine(hdn, get(`${p}.mlp.c_proj.weight`), 'in_out', get(`${p}.mlp.c_proj.bias`));
      }
      const g = affine(x, get(`${p}.mlp.gate_proj.weight`), 'out_in').map(silu);
      const u = affine(x, get(`${p}.mlp.up_proj.weight`), 'out_in');
      return affine(g.map((a, i) => a * u[i]!), get(`${p}.mlp.down_proj.weight`), 'out_in');
    });
    xs = xs.map((x, t) => x.map((u, i) => u + ff[t]![i]!));
  }
  const fin = xs.map((x) => (gpt2 ? layerNorm(x, get('transformer.ln_f.weight').data, get('transformer.ln_f.bias').data, c.normEps) : rmsNorm(x, get('model.norm.weight').data, c.normEps)));
  const head = c.tieWordEmbeddings ? emb : get('lm_head.weight'); // [V, D] either way
  return fin.map((x) => affine(x, head, 'out_in'));
}
