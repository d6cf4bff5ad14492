import type { RopeScaling } from '../model/rope-scaling';
import { HfReader, isObject } from './reader';

/** Keys each rope type may carry (besides type / rope_type / rope_theta); anything else is refused, never ignored. */
const KNOWN_KEYS: Record<string, string[]> = {
  default: [],
  linear: ['factor'],
  dynamic: ['factor', 'original_max_position_embeddings'],
  llama3: ['factor', 'low_freq_factor', 'high_freq_factor', 'original_max_position_embeddings'],
  yarn: ['factor', 'original_max_position_embeddings', 'attention_factor', 'beta_fast', 'beta_slow', 'mscale', 'mscale_all_dim', 'truncate'],
};

export interface RopeSettings {
  theta: number;
  scaling: RopeScaling | null;
}

/**
 * rope_theta and rope scaling of a llama-family config.json. transformers v4 writes `rope_theta` and
 * `rope_scaling`; current transformers writes `rope_parameters` ({ rope_type, rope_theta, ... });
 * both are read and must agree when both are given.
 */
export function readRope(r: HfReader, maxPositions: number): RopeSettings {
  const params = r.json['rope_parameters'];
  const legacy = r.json['rope_scaling'];
  if (params !== undefined && params !== null && !isObject(params)) r.fail('rope_parameters', 'must be an object such as { "rope_type": "default", "rope_theta": 10000 }');
  if (legacy !== undefined && legacy !== null && !isObject(legacy)) r.fail('rope_scaling', 'must be an object or null');
  let theta = r.num('rope_theta', 10000);
  if (isObject(params) && params['rope_theta'] !== undefined) {
    const t = params['rope_theta'];
    if (typeof t !== 'number' || !(t > 0)) r.fail('rope_parameters.rope_theta', `must be a positive number, got ${JSON.stringify(t)}`);
    if (r.has('rope_theta') && r.json['rope_theta'] !== t) {
      r.fail('rope_theta', `= ${String(r.json['rope_theta'])} disagrees with rope_parameters.rope_theta = ${t}; keep one of them`);
    }
    theta = t;
  }
  const scalings = [isObject(params) ? ['rope_parameters', params] : null, isObject(legacy) ? ['rope_scaling', legacy] : null]
    .filter((x): x is [string, Record<string, unknown>] => x !== null)
    .map(([field, obj]) => parseScaling(r, field, obj, maxPositions));
  const [first, second] = scalings;
  if (first !== undefined && second !== undefined && JSON.stringify(first) !== JSON.stringify(second)) {
    r.fail('rope_scaling', `disagrees with rope_parameters (${JSON.stringify(second)} vs ${JSON.stringify(first)}); keep one of them`);
  }
  return { theta, scaling: first ?? null };
}

function parseScaling(r: HfReader, field: string, obj: Record<string, unknown>, maxPositions: number): RopeScaling | null {
  const type = (obj['rope_type'] ?? obj['type'] ?? 'default') as unknown;
  if (typeof type !== 'string' || !(type in KNOWN_KEYS)) {
    r.fail(`${field}.rope_type`, `= ${JSON.stringify(type)} is not supported by emrl; supported: ${Object.keys(KNOWN_KEYS).join(', ')}`);
  }
  const allowed = new Set([...KNOWN_KEYS[type]!, 'type', 'rope_type', 'rope_theta', 'partial_rotary_factor']);
  for (const key of Object.keys(obj)) {
    if (!allowed.has(key)) r.fail(`${field}.${key}`, `is not used by rope type "${type}" in emrl; remove it or use a supported rope type`);
  }
  const prf = obj['partial_rotary_factor'];
  if (prf !== undefined && prf !== 1) r.fail(`${field}.partial_rotary_factor`, `= ${JSON.stringify(prf)} is not supported; emrl rotates the full head dim (1.0)`);
  const sub = new HfReader(obj, r.file);
  const num = (key: string, fallback?: number): number => {
    if (fallback === undefined && !sub.has(key)) r.fail(`${field}.${key}`, `is missing; rope type "${type}" needs it (see the model card's config.json)`);
    try {
      return sub.num(key, fallback ?? 0);
    } catch {
      return r.fail(`${field}.${key}`, `must be a number, got ${JSON.stringify(obj[key])}`);
    }
  };
  const original = (): number => num('original_max_position_embeddings', maxPositions);
  switch (type) {
    case 'default':
      return null;
    case 'linear':
      return { type, factor: num('factor') };
    case 'dynamic':
      // HF's dynamic NTK keeps the default frequencies up to max_position_embeddings.
      return { type, factor: num('factor'), originalMaxPositions: Math.min(original(), maxPositions) };
    case 'llama3':
      return {
        type,
        factor: num('factor'),
        lowFreqFactor: num('low_freq_factor'),
        highFreqFactor: num('high_freq_factor'),
        originalMaxPositions: num('original_max_position_embeddings'),
      };
    default: {
      const orig = original();
      const nullable = (key: string): number | null => (sub.has(key) ? num(key) : null);
      return {
        type: 'yarn',
        // transformers derives the factor from the two lengths only when it is not given.
        factor: sub.has('factor') ? num('factor') : maxPositions / orig,
        originalMaxPositions: orig,
        attentionFactor: nullable('attention_factor'),
        betaFast: num('beta_fast', 32),
        betaSlow: num('beta_slow', 1),
        mscale: nullable('mscale'),
        mscaleAllDim: nullable('mscale_all_dim'),
        truncate: sub.bool('truncate', true),
      };
    }
  }
}
