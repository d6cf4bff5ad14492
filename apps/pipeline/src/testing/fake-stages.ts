// Test-only fake stages and diagnostics: deterministic numbers derived from policy names, real
// checkpoint files (JSON), optional per-step delay so signals can land mid-stage.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Observable } from 'rxjs';
import { z } from 'zod';
import type { Policy, StageEvent, StageFactory, Task } from '@emrl/rl-grpo';
import { StageRegistry } from '../config/stage-registry';
import type { DiagnosticsRecord } from '../report/diagnostics-schema';

export function fakePolicy(name: string): Policy {
  return { model: {} as never, tokenizer: {} as never, name };
}

export const fakeTask = { name: 'fake-task' } as unknown as Task;

/** 32-bit FNV-1a, as a deterministic "random" source keyed by strings. */
export function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
const unit = (s: string): number => hash(s) / 2 ** 32;

export const CountOptionsSchema = z
  .object({
    steps: z.number().int().positive().default(5),
    lr: z.number().positive().default(0.1),
    checkpointEvery: z.number().int().positive().default(2),
    delayMs: z.number().min(0).default(0),
    failAt: z.number().int().optional(),
  })
  .strict();
type CountOptions = z.infer<typeof CountOptionsSchema>;

interface CountCheckpoint {
  step: number;
  value: number;
  policyName: string;
}

export function writeFakeCheckpoint(dir: string, ckpt: CountCheckpoint): string {
  const path = join(dir, `step-${ckpt.step}`);
  mkdirSync(path, { recursive: true });
  writeFileSync(join(path, 'state.json'), JSON.stringify(ckpt));
  return path;
}

export async function loadFakeCheckpoint(path: string): Promise<Policy> {
  const ckpt = JSON.parse(readFileSync(join(path, 'state.json'), 'utf8')) as CountCheckpoint;
  return fakePolicy(ckpt.policyName);
}

/** A "training" stage: value_{k+1} = value_k * (1 - lr) + noise(seed, step); loss = value. */
export const countStageFactory: StageFactory<typeof CountOptionsSchema> = {
  kind: 'count',
  schema: CountOptionsSchema,
  create: (id: string, config: CountOptions) => ({
    kind: 'count',
    id,
    config,
    run: (ctx) =>
      new Observable<StageEvent>((sub) => {
        let step = ctx.resumeStep ?? 0;
        let value = unit(`${ctx.policy.name}/${ctx.seed}`);
        if (ctx.resumeStep !== undefined && ctx.checkpointDir) {
          const file = join(ctx.checkpointDir, `step-${ctx.resumeStep}`, 'state.json');
          if (!existsSync(file)) {
            sub.error(new Error(`missing checkpoint ${file}`));
            return;
          }
          value = (JSON.parse(readFileSync(file, 'utf8')) as CountCheckpoint).value;
        } else {
          sub.next({ type: 'started', stage: id, kind: 'count', totalSteps: config.steps, time: Date.now() });
        }
        let timer: ReturnType<typeof setTimeout> | undefined;
        const tick = (): void => {
          step += 1;
          if (config.failAt === step) {
            sub.error(new Error(`fake failure at step ${step}`));
            return;
          }
          value = value * (1 - config.lr) + 0.01 * unit(`${id}/${ctx.seed}/${step}`);
          const reward = 1 - value;
          sub.next({ type: 'progress', stage: id, step, totalSteps: config.steps, loss: value, reward, tokensPerSec: 100 });
          sub.next({ type: 'metrics', stage: id, step, metrics: step > 2 ? { loss: value, 'reward/mean': reward, 'entropy/mean': value / 2 } : { loss: value, 'reward/mean': reward } });
          const name = `${ctx.policy.name}>${id}@${step}`;
          if (ctx.checkpointDir && (step % config.checkpointEvery === 0 || step === config.steps)) {
            const path = writeFakeCheckpoint(ctx.checkpointDir, { step, value, policyName: name });
            sub.next({ type: 'checkpoint', stage: id, step, path });
          }
          if (step >= config.steps) {
            sub.next({ type: 'finished', stage: id, policy: fakePolicy(name), summary: { loss: value } });
            sub.complete();
          } else timer = setTimeout(tick, config.delayMs);
        };
        if (step >= config.steps) {
          // Resumed from the final checkpoint (killed before "finished"): nothing left to run, as in stepLoop.
          sub.next({ type: 'finished', stage: id, policy: fakePolicy(`${ctx.policy.name}>${id}@${step}`), summary: { loss: value } });
          sub.complete();
          return undefined;
        }
        timer = setTimeout(tick, config.delayMs);
        return () => clearTimeout(timer);
      }),
  }),
};

export const ProbeOptionsSchema = z.object({ temperatures: z.array(z.number()).default([0, 1]) }).strict();

/** An evaluation-like stage: no training, returns its input policy and a result table. */
export const probeStageFactory: StageFactory<typeof ProbeOptionsSchema> = {
  kind: 'probe',
  schema: ProbeOptionsSchema,
  create: (id, config) => ({
    kind: 'probe',
    id,
    config,
    run: (ctx) =>
      new Observable<StageEvent>((sub) => {
        sub.next({ type: 'started', stage: id, kind: 'probe', totalSteps: 1, time: Date.now() });
        const accuracy = config.temperatures.map((t) => ({ temperature: t, accuracy: unit(`${ctx.policy.name}/${t}`) }));
        sub.next({ type: 'metrics', stage: id, step: 1, metrics: { 'eval/accuracy': accuracy[0]!.accuracy } });
        sub.next({ type: 'finished', stage: id, policy: ctx.policy, summary: { accuracy: accuracy[0]!.accuracy }, result: { accuracy } });
        sub.complete();
      }),
  }),
};

export function createFakeRegistry(): StageRegistry {
  return new StageRegistry().register(countStageFactory as unknown as StageFactory).register(probeStageFactory as unknown as StageFactory);
}

/** Deterministic diagnostics in the DiagnosticsRecord shape, keyed by the policy name. */
export function fakeDiagnose(policy: Policy, boundary: string): Promise<DiagnosticsRecord> {
  const u = (k: string): number => unit(`${policy.name}/${k}`);
  const edges = Array.from({ length: 11 }, (_, i) => -10 + 2 * i);
  return Promise.resolve({
    scope: 'sampled-responses, T=0.6, raw logits, full vocabulary',
    accuracyByTemperature: [0, 0.6, 1].map((t) => ({ temperature: t, accuracy: u(`acc${t}`), samples: 16 })),
    logitStats: { skewness: u('skew') * 2 - 1, entropy: u('ent') * 3, maxProb: u('maxp'), top1Top2Gap: u('gap') },
    calibration: { ece: u('ece') * 0.3, brier: u('brier') * 0.4 },
    histogram: { edges, counts: edges.slice(1).map((_, i) => Math.round(100 * u(`h${i}/${boundary.length}`))) },
    samples: [{ prompt: '1+2=', completion: `${Math.round(10 * u('s'))}$`, answer: String(Math.round(10 * u('s'))), correct: Math.round(10 * u('s')) === 3 }],
    samplesScope: 'a fake sample on the first probe prompt',
  });
}
