import { z } from 'zod';
import { evaluate, ModchainTask, probeLogitStatistics, type EvalResult, type Policy, type Task } from '@emrl/rl-grpo';

/** Settings of the card's evaluation; the card test re-runs them and compares. */
export const CARD_EVAL = {
  temperatures: [0, 0.3, 0.6, 1],
  samples: 4,
  split: 'test' as const,
  seed: 1234,
};

export const BaseModelRecipeSchema = z.object({
  task: z.record(z.string(), z.unknown()),
  model: z.record(z.string(), z.unknown()),
  training: z.record(z.string(), z.unknown()),
  seed: z.number().int(),
});
export type BaseModelRecipe = z.infer<typeof BaseModelRecipeSchema>;

export const CardEvaluationSchema = z.object({
  seed: z.number().int(),
  split: z.string(),
  numPrompts: z.number().int(),
  samplesPerPrompt: z.number().int(),
  byTemperature: z.array(
    z.object({
      temperature: z.number(),
      accuracy: z.number(),
      directRate: z.number(),
      samples: z.number().int(),
      /** One binomial standard error of `accuracy` (sqrt(p (1 - p) / samples)). */
      standardError: z.number(),
    }),
  ),
  /** Mean full-vocabulary token entropy (tau = 1) over the probe split's own samples at T = 1. */
  meanEntropy: z.number(),
  /**
   * Expected accuracy, on the same split, of sampling the pretraining document distribution itself
   * (ModchainTask.pretrainingDistributionAccuracy): the T = 1 accuracy of a perfectly fit base.
   */
  pretrainingDistributionAccuracy: z.number().optional(),
});
export type CardEvaluation = z.infer<typeof CardEvaluationSchema>;

export const ModelCardSchema = z.object({
  name: z.string(),
  recipe: BaseModelRecipeSchema,
  parameters: z.number().int(),
  trainingSeconds: z.number(),
  backend: z.string(),
  evaluation: CardEvaluationSchema,
});
export type ModelCard = z.infer<typeof ModelCardSchema>;

/** The card's numbers for a policy: accuracy by temperature, direct-answer rate, mean entropy. */
export async function evaluateBaseModel(
  policy: Policy,
  task: Task,
  log: (m: string) => void = () => {},
  temperatures: number[] = CARD_EVAL.temperatures,
): Promise<CardEvaluation> {
  const result: EvalResult = await evaluate(
    policy,
    task,
    { temperatures, samples: CARD_EVAL.samples, split: CARD_EVAL.split },
    { seed: CARD_EVAL.seed, onProgress: (done, total) => done === total && log(`evaluated ${total} prompt x temperature cells`) },
  );
  const probe = await probeLogitStatistics(policy, task, { examples: task.split('probe'), sampleTemperature: 1, seed: CARD_EVAL.seed });
  return {
    seed: CARD_EVAL.seed,
    split: CARD_EVAL.split,
    numPrompts: result.numPrompts,
    samplesPerPrompt: CARD_EVAL.samples,
    byTemperature: result.byTemperature.map((r) => {
      const n = result.numPrompts * r.samplesPerPrompt;
      return {
        temperature: r.temperature,
        accuracy: r.accuracy,
        directRate: r.extra['direct'] ?? 0,
        samples: n,
        standardError: Math.sqrt((r.accuracy * (1 - r.accuracy)) / n),
      };
    }),
    meanEntropy: probe.stats.figures['entropy/per_position_mean'] ?? Number.NaN,
    ...(task instanceof ModchainTask ? { pretrainingDistributionAccuracy: task.pretrainingDistributionAccuracy(task.split(CARD_EVAL.split)) } : {}),
  };
}

function snapshotLine(snapshot: unknown, steps: unknown): string {
  const s = snapshot as
    | { step?: number; every?: number; from?: number; stopWithin?: number; stepsRun?: number; target?: { greedy: number; t1: number }; validation?: { greedy: number; t1: number; prompts: number } }
    | undefined;
  if (!s || !s.target || !s.validation) return '- Checkpoint: the last step.';
  const stopped =
    s.stopWithin && s.stepsRun !== undefined && s.stepsRun < Number(steps)
      ? `\n  Training stopped there, at the first snapshot within ${s.stopWithin} of the target (${s.stepsRun} of the ${String(steps)} scheduled steps).`
      : '';
  return `- Checkpoint: step ${s.step}, the snapshot (every ${s.every} steps from step ${s.from}) closest to the target
  greedy ${s.target.greedy} / T=1 ${s.target.t1} on ${s.validation.prompts} validation prompts (another split seed, test and
  probe prompts removed): validation greedy ${s.validation.greedy.toFixed(3)}, T=1 ${s.validation.t1.toFixed(3)}.${stopped} Trained further, the
  model passes greedy 0.9, leaving EM and GRPO no room (embedded-lab.md).`;
}

function ceilingLine(e: CardEvaluation, recipe: BaseModelRecipe): string {
  if (e.pretrainingDistributionAccuracy === undefined) return '';
  return `
T = 1 ceiling: a model that samples exactly its pretraining distribution (noise ${String(recipe.task['noise'])}, direct rate
${String(recipe.task['pDirect'])}) would score ${e.pretrainingDistributionAccuracy.toFixed(3)} at T = 1 on this split (computed exactly,
\`ModchainTask.pretrainingDistributionAccuracy\`). A base with greedy accuracy 0.8-0.9 is less sharp
than that, so its T = 1 accuracy sits below this bound; most of the 0.45-0.55 T = 1 range of
embedded-lab.md lies above it for these documents.
`;
}

export function buildModelCard(args: {
  recipe: BaseModelRecipe;
  trainingSeconds: number;
  backend: string;
  evaluation: CardEvaluation;
  parameters: number;
}): { json: ModelCard; markdown: string } {
  const json: ModelCard = { name: 'modchain-byte', ...args };
  const rows = args.evaluation.byTemperature
    .map((r) => `| ${r.temperature} | ${r.accuracy.toFixed(3)} +- ${r.standardError.toFixed(3)} | ${r.directRate.toFixed(3)} | ${r.samples} |`)
    .join('\n');
  const t = args.recipe.training;
  const markdown = `# modchain-byte: the embedded base model

A ${args.parameters.toLocaleString('en-US')}-parameter GPT-2-style decoder (${String(args.recipe.model['numLayers'])} layers, width
${String(args.recipe.model['hiddenSize'])}, ${String(args.recipe.model['numHeads'])} heads, learned positions, byte-level vocabulary of 258 = 256 bytes +
\`<|pad|>\` + \`<|endoftext|>\`) pretrained from scratch on noisy "modchain" documents, so that it is
capable but unsure: it usually reasons step by step, but sometimes guesses the answer directly
(\`#d$\`), which is the prompt-independent uncertainty entropy minimization can sharpen
(docs: shared embedded-lab.md).

## Recipe (rebuild: \`npm run build:base-model -- --seed ${args.recipe.seed}\`)
- Task: modchain (left-to-right arithmetic modulo 10, 1-6 operations); pretraining documents with
  wrong-step noise ${String(args.recipe.task['noise'])} and direct-answer rate ${String(args.recipe.task['pDirect'])}; test and probe prompts held out.
- Training: ${String(t['steps'])} steps x ${String(t['batchSize'])} documents, AdamW lr ${String(t['lr'])} (betas ${JSON.stringify(t['betas'] ?? [0.9, 0.999])}, weight decay ${String(t['weightDecay'])}),
  ${String(t['warmupSteps'])} warmup steps then cosine to 0, grad clip ${String(t['gradClip'])}, loss on response tokens${t['workers'] ? `, ${String(t['workers'])} data-parallel threads` : ''}.
${snapshotLine(t['snapshot'], t['steps'])}
- Seed ${args.recipe.seed} (init and data). Backend: ${args.backend}. Training time: ${args.trainingSeconds.toFixed(0)} s.

## Evaluation (test split, ${args.evaluation.numPrompts} prompts, sampling seed ${args.evaluation.seed})
Accuracy is pass@1 averaged over ${args.evaluation.samplesPerPrompt} samples per prompt at T > 0 (one greedy sample at T = 0);
+- is one binomial standard error. "direct" is the share of completions that skip the reasoning.

| T | accuracy | direct | samples |
|---|---|---|---|
${rows}

Mean token entropy (full vocabulary, tau = 1, probe split, own samples at T = 1): ${args.evaluation.meanEntropy.toFixed(4)}.
${ceilingLine(args.evaluation, args.recipe)}
Sampling noise: on the same backend the evaluation is deterministic; on another backend floating-point
differences can change sampled tokens, so numbers may move by a few standard errors. The card test
(\`tools/base-model/card.test.ts\`) allows 4 standard errors (at least 0.02).
`;
  return { json, markdown };
}
