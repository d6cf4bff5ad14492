import { describe, expect, it } from 'vitest';
import { GrpoConfigSchema } from '../grpo/grpo-config';
import { LogitsBudgetMiBSchema, logitsBudgetBytes } from './logits-budget';

describe('logitsBudgetMiB', () => {
  it('is optional and positive; MiB become whole bytes, absent stays absent (the library default)', () => {
    expect(LogitsBudgetMiBSchema.parse(undefined)).toBeUndefined();
    expect(LogitsBudgetMiBSchema.safeParse(0).success).toBe(false);
    expect(LogitsBudgetMiBSchema.safeParse(-8).success).toBe(false);
    expect(logitsBudgetBytes(undefined)).toBeUndefined();
    expect(logitsBudgetBytes(32)).toBe(33554432);
    expect(logitsBudgetBytes(0.5)).toBe(524288);
    expect(logitsBudgetBytes(2 ** -30)).toBe(1); // never 0 bytes
  });

  it('is a grpo stage option (absent by default, so existing configs parse to the same object)', () => {
    expect(GrpoConfigSchema.parse({}).logitsBudgetMiB).toBeUndefined();
    expect('logitsBudgetMiB' in GrpoConfigSchema.parse({})).toBe(false);
    expect(GrpoConfigSchema.parse({ logitsBudgetMiB: 64 }).logitsBudgetMiB).toBe(64);
    expect(GrpoConfigSchema.safeParse({ logitsBudgetMiB: 0 }).success).toBe(false);
  });
});
