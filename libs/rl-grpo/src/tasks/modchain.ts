/**
 * "modchain": `3+5*2-7=` evaluated LEFT TO RIGHT modulo `modulus`, answered with a chain of
 * thought `3+5=8;8*2=6;6-7=9#9$`. The CPU-sized verifiable task of docs/embedded-lab.md.
 */
import { z } from 'zod';
import { extractHashAnswer } from './answer';
import { createTaskRng, type TaskRng } from './rng';
import type { SplitName, Task, TaskExample, Verdict } from './task';

export const MODCHAIN_OPERATORS = ['+', '-', '*'] as const;
export type ModchainOperator = (typeof MODCHAIN_OPERATORS)[number];

export const ModchainConfigShape = z.object({
  modulus: z.number().int().min(2).max(1000).default(10).meta({ description: 'Arithmetic is modulo this; operands are 0..modulus-1.' }),
  minOps: z.number().int().min(1).default(1).meta({ description: 'Fewest operations in a prompt.' }),
  maxOps: z.number().int().min(1).max(32).default(6).meta({ description: 'Most operations in a prompt (uniform between minOps and maxOps).' }),
  operators: z.array(z.enum(MODCHAIN_OPERATORS)).min(1).default([...MODCHAIN_OPERATORS]).meta({ description: 'Operators to draw from.' }),
  noise: z.number().min(0).max(1).default(0.1).meta({
    description: 'Pretraining docs only: each step result is wrong with this probability; later steps continue from the wrong value.',
  }),
  pDirect: z.number().min(0).max(1).default(0.4).meta({
    description: 'Pretraining docs only: probability a doc skips the reasoning and writes `#d$`, d a uniformly random residue (a prompt-independent guess).',
  }),
  seed: z.number().int().default(0).meta({ description: 'Seed of the train/test/probe splits.' }),
  trainSize: z.number().int().min(0).default(2000),
  testSize: z.number().int().min(0).default(200),
  probeSize: z.number().int().min(0).default(32),
  holdOutEvalFromPretraining: z.boolean().default(true).meta({
    description: 'Pretraining docs never use a test or probe prompt (no contamination of the evaluation splits).',
  }),
});

type ModchainShapeOut = z.output<typeof ModchainConfigShape>;

/** Rules that span fields; shared with the registry's spec schema. */
export function checkModchainConfig(c: ModchainShapeOut, ctx: z.RefinementCtx): void {
  if (c.minOps > c.maxOps) {
    ctx.addIssue({ code: 'custom', path: ['minOps'], message: `minOps (${c.minOps}) must be <= maxOps (${c.maxOps}); raise maxOps or lower minOps` });
    return;
  }
  const need = c.trainSize + c.testSize + c.probeSize;
  const have = modchainPromptCount(c.modulus, c.minOps, c.maxOps, new Set(c.operators).size);
  // Rejection sampling of distinct prompts stalls near capacity; keep a 2x margin.
  if (need * 2 > have) {
    ctx.addIssue({
      code: 'custom',
      path: ['trainSize'],
      message: `trainSize+testSize+probeSize = ${need} needs at least ${need * 2} distinct prompts but modulus ${c.modulus}, ops ${c.minOps}..${c.maxOps} give only ${have}; lower the split sizes or raise maxOps`,
    });
  }
}

export const ModchainConfigSchema = ModchainConfigShape.superRefine(checkModchainConfig);
export type ModchainConfig = z.output<typeof ModchainConfigSchema>;
export type ModchainConfigInput = z.input<typeof ModchainConfigSchema>;

/** Number of distinct prompts: sum over n of modulus^(n+1) * operators^n (saturates at 1e15). */
export function modchainPromptCount(modulus: number, minOps: number, maxOps: number, operatorCount: number): number {
  let total = 0;
  for (let n = minOps; n <= maxOps; n++) total += modulus ** (n + 1) * operatorCount ** n;
  return Math.min(total, 1e15);
}

export interface ModchainProblem {
  operands: number[]; // length ops+1
  operators: ModchainOperator[]; // length ops
}

export function applyModchainOp(a: number, op: ModchainOperator, b: number, modulus: number): number {
  const raw = op === '+' ? a + b : op === '-' ? a - b : a * b;
  return ((raw % modulus) + modulus) % modulus;
}

export function modchainPrompt(p: ModchainProblem): string {
  let s = String(p.operands[0]);
  p.operators.forEach((op, i) => (s += `${op}${p.operands[i + 1]}`));
  return `${s}=`;
}

/**
 * Step texts and the final value; each step's result is replaced by a different residue with
 * probability `noise` (pretraining corruption) and later steps continue from the shown value.
 */
function chainSteps(p: ModchainProblem, modulus: number, noise = 0, rng?: TaskRng): { steps: string[]; value: number } {
  let value = p.operands[0] as number;
  const steps: string[] = [];
  p.operators.forEach((op, i) => {
    const b = p.operands[i + 1] as number;
    let r = applyModchainOp(value, op, b, modulus);
    if (noise > 0 && rng && rng.bernoulli(noise)) r = (r + 1 + rng.int(modulus - 1)) % modulus;
    steps.push(`${value}${op}${b}=${r}`);
    value = r;
  });
  return { steps, value };
}

/** The correct chain-of-thought completion, e.g. `3+5=8;8*2=6;6-7=9#9$`. */
export function modchainSolution(p: ModchainProblem, modulus: number): string {
  const { steps, value } = chainSteps(p, modulus);
  return `${steps.join(';')}#${value}$`;
}

function drawProblem(rng: TaskRng, c: ModchainConfig): ModchainProblem {
  const ops = rng.range(c.minOps, c.maxOps);
  const operands = Array.from({ length: ops + 1 }, () => rng.int(c.modulus));
  const operators = Array.from({ length: ops }, () => rng.pick(c.operators));
  return { operands, operators };
}

const STEP_RE = /^(\d+)([+\-*])(\d+)=(\d+)$/;

/** The modchain task (implements `Task`). */
export class ModchainTask implements Task {
  readonly name = 'modchain';
  readonly config: ModchainConfig;
  readonly stopSequences = ['$'] as const;
  /** Longest correct completion (38 for the defaults). */
  readonly maxCompletionLength: number;
  /** Longest prompt in characters, `=` included (14 for the defaults); tokenizers left-pad batches. */
  readonly promptLength: number;
  private readonly splits: Record<SplitName, TaskExample[]>;

  constructor(config: ModchainConfigInput = {}) {
    const parsed = ModchainConfigSchema.safeParse(config);
    if (!parsed.success) throw new Error(`modchain task config: ${z.prettifyError(parsed.error)}`);
    this.config = parsed.data;
    const c = this.config;
    const w = String(c.modulus - 1).length;
    // steps "a+b=r" joined by ';', then '#', answer, '$'
    this.maxCompletionLength = c.maxOps * (3 * w + 2) + (c.maxOps - 1) + w + 2;
    this.promptLength = (c.maxOps + 1) * w + c.maxOps + 1;
    this.splits = this.buildSplits();
  }

  private buildSplits(): Record<SplitName, TaskExample[]> {
    const c = this.config;
    const seen = new Set<string>();
    const out = {} as Record<SplitName, TaskExample[]>;
    // Test first, then probe, then train: changing trainSize never changes the evaluation splits.
    const order: [SplitName, number][] = [['test', c.testSize], ['probe', c.probeSize], ['train', c.trainSize]];
    for (const [split, size] of order) {
      const rng = createTaskRng(c.seed, 'modchain', split);
      const examples: TaskExample[] = [];
      let attempts = 0;
      while (examples.length < size) {
        if (++attempts > 100 * size + 1000) {
          throw new Error(`modchain: could draw only ${examples.length} of ${size} distinct '${split}' prompts; lower the split sizes or raise maxOps`);
        }
        const p = drawProblem(rng, c);
        const prompt = modchainPrompt(p);
        if (seen.has(prompt)) continue;
        seen.add(prompt);
        const { value } = chainSteps(p, c.modulus);
        examples.push({
          id: `modchain-${split}-${examples.length}`,
          prompt,
          answer: String(value),
          meta: { ops: p.operators.length, operands: p.operands, operators: p.operators },
        });
      }
      out[split] = examples;
    }
    return out;
  }

  split(name: SplitName): readonly TaskExample[] {
    return this.splits[name];
  }

  extractAnswer(completion: string): string | null {
    return extractHashAnswer(completion);
  }

  verify(completion: string, example: TaskExample): Verdict {
    const extracted = this.extractAnswer(completion);
    return { correct: extracted !== null && extracted === example.answer, extracted, formatOk: extracted !== null };
  }

  referenceCompletion(example: TaskExample): string {
    return modchainSolution(problemOf(example), this.config.modulus);
  }

  /**
   * Full documents prompt+completion. A doc is direct (`#d$`, d uniform over residues, so a
   * guess is right 1/modulus of the time) with probability pDirect, else a chain whose steps are
   * each corrupted with probability noise.
   */
  pretrainingDocuments(count: number, seed: number): string[] {
    const c = this.config;
    const rng = createTaskRng(seed, 'modchain', 'pretrain');
    const held = new Set<string>();
    if (c.holdOutEvalFromPretraining) for (const e of [...this.splits.test, ...this.splits.probe]) held.add(e.prompt);
    const docs: string[] = [];
    let attempts = 0;
    while (docs.length < count) {
      if (++attempts > 100 * count + 1000) throw new Error('modchain: pretraining prompts exhausted by the held-out splits; lower testSize/probeSize');
      const p = drawProblem(rng, c);
      const prompt = modchainPrompt(p);
      if (held.has(prompt)) continue;
      if (rng.bernoulli(c.pDirect)) {
        docs.push(`${prompt}#${rng.int(c.modulus)}$`);
      } else {
        const { steps, value } = chainSteps(p, c.modulus, c.noise, rng);
        docs.push(`${prompt}${steps.join(';')}#${value}$`);
      }
    }
    return docs;
  }

  /**
   * Exact expected accuracy of a policy that samples the pretraining document distribution itself
   * (a perfectly calibrated pretrained model at T = 1): a direct guess is right 1/modulus of the
   * time; a chain is right when its last shown value is the true answer, computed by propagating
   * the distribution of the shown value through the steps (a wrong step can land back on the true
   * chain). Averaged over `examples`. It bounds what T = 1 accuracy a base model fit to these
   * documents can reach, e.g. about 0.46 for noise 0.1 / pDirect 0.4 on the default test split.
   */
  pretrainingDistributionAccuracy(examples: readonly TaskExample[]): number {
    const { modulus: m, noise, pDirect } = this.config;
    if (examples.length === 0) throw new Error('modchain: pretrainingDistributionAccuracy needs at least one example');
    let chainTotal = 0;
    for (const e of examples) {
      const p = problemOf(e);
      let dist = new Float64Array(m);
      dist[p.operands[0] as number] = 1;
      p.operators.forEach((op, i) => {
        const next = new Float64Array(m);
        for (let v = 0; v < m; v++) {
          const mass = dist[v] as number;
          if (mass === 0) continue;
          const r = applyModchainOp(v, op, p.operands[i + 1] as number, m);
          for (let w = 0; w < m; w++) next[w] = (next[w] as number) + mass * (w === r ? 1 - noise : noise / (m - 1));
        }
        dist = next;
      });
      chainTotal += dist[Number(e.answer)] as number;
    }
    return pDirect / m + (1 - pDirect) * (chainTotal / examples.length);
  }

  /**
   * direct: the completion answers with no reasoning (`#d$`); steps: well-formed `a op b=r` steps
   * before the answer; wellFormed: the whole completion (up to its first `$`) follows the grammar;
   * stepErrors: steps whose arithmetic is wrong.
   */
  describeCompletion(completion: string, _example: TaskExample): Record<string, number> {
    const stop = completion.indexOf('$');
    const head = stop < 0 ? completion : completion.slice(0, stop);
    const hash = head.lastIndexOf('#');
    const body = hash < 0 ? head : head.slice(0, hash);
    const parts = body.length > 0 ? body.split(';') : [];
    let steps = 0;
    let stepErrors = 0;
    let grammar = true;
    for (const part of parts) {
      const m = STEP_RE.exec(part);
      if (!m) {
        grammar = false;
        continue;
      }
      steps++;
      const expected = applyModchainOp(Number(m[1]), m[2] as ModchainOperator, Number(m[3]), this.config.modulus);
      if (expected !== Number(m[4])) stepErrors++;
    }
    const answerOk = hash >= 0 && /^\d+$/.test(head.slice(hash + 1));
    const wellFormed = grammar && answerOk && stop >= 0 && head.indexOf('#') === hash;
    return { direct: hash === 0 && stop >= 0 ? 1 : 0, steps, wellFormed: wellFormed ? 1 : 0, stepErrors };
  }
}

function problemOf(example: TaskExample): ModchainProblem {
  const meta = example.meta as { operands?: number[]; operators?: ModchainOperator[] } | undefined;
  if (meta?.operands && meta.operators) return { operands: meta.operands, operators: meta.operators };
  const m = /^(\d+)((?:[+\-*]\d+)*)=$/.exec(example.prompt);
  if (!m) throw new Error(`modchain: example '${example.id}' has prompt '${example.prompt}', not a modchain expression like 3+5*2=`);
  const operators = [...(m[2] as string).matchAll(/([+\-*])(\d+)/g)];
  return { operands: [Number(m[1]), ...operators.map((o) => Number(o[2]))], operators: operators.map((o) => o[1] as ModchainOperator) };
}

export function createModchainTask(config: ModchainConfigInput = {}): ModchainTask {
  return new ModchainTask(config);
}
