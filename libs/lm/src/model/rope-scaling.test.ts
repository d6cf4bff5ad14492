import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseHfConfig } from '../hf-config/index';
import { ropeFrequencies } from './rope-scaling';

// inv_freq computed in float64 torch by tools/torch_reference_families.py from the same config keys.
const REF = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/rope_reference.json'), 'utf8')) as {
  cases: { config: Record<string, unknown>; inv_freq: number[]; attention_factor: number }[];
};

describe('rope scaling from config.json keys, against the PyTorch reference', () => {
  it.each(REF.cases.map((c) => [JSON.stringify(c.config['rope_scaling'] ?? c.config['rope_parameters']), c] as const))('%s', (_label, c) => {
    const cfg = parseHfConfig({ num_hidden_layers: 1, intermediate_size: 64, vocab_size: 10, ...c.config }, 'rope-case/config.json');
    const f = ropeFrequencies(cfg.headDim, cfg.ropeTheta, cfg.ropeScaling);
    expect(f.invFreq.length).toBe(c.inv_freq.length);
    c.inv_freq.forEach((v, i) => expect(Math.abs(f.invFreq[i]! - v) / v).toBeLessThan(1e-6));
    expect(f.attentionScaling).toBeCloseTo(c.attention_factor, 12);
  });

  it('scaling changes the frequencies it should (llama3: high kept, low divided by factor)', () => {
    const s = { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 64 } as const;
    const plain = ropeFrequencies(8, 10000, null).invFreq;
    const scaled = ropeFrequencies(8, 10000, s).invFreq;
    expect(scaled[0]).toBe(plain[0]); // wavelength 2 pi < 16: kept
    expect(scaled[3]! * 8).toBeCloseTo(plain[3]!, 12); // wavelength 6283 > 64: interpolated
    expect(scaled[1]! < plain[1]! && scaled[1]! > plain[1]! / 8).toBe(true); // ramp
  });
});
