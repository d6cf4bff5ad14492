import type { LrSchedule } from './config';

/**
 * Learning rate for 0-based optimizer `step` (number of updates already applied).
 * Warmup is linear, lr * (step + 1) / warmupSteps, so step 0 already moves (unlike the HF schedulers,
 * whose step 0 has lr 0) and step warmupSteps - 1 reaches lr. After warmup, `progress` goes from 0 at
 * step warmupSteps to 1 at step totalSteps; cosine: min + (1 - min) * (1 + cos(pi * progress)) / 2,
 * linear: min + (1 - min) * (1 - progress). Past totalSteps the lr stays at minLrRatio * lr.
 */
export function lrAt(schedule: LrSchedule, baseLr: number, step: number): number {
  if (schedule.type === 'constant') return baseLr;
  const { warmupSteps, totalSteps, minLrRatio } = schedule;
  if (totalSteps === undefined) throw new Error(`optim/schedule.ts: a ${schedule.type} schedule needs totalSteps; fill it with withTotalSteps(schedule, steps)`);
  if (step < warmupSteps) return (baseLr * (step + 1)) / warmupSteps;
  const progress = Math.min(1, Math.max(0, (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps)));
  const shape = schedule.type === 'warmup-cosine' ? 0.5 * (1 + Math.cos(Math.PI * progress)) : 1 - progress;
  return baseLr * (minLrRatio + (1 - minLrRatio) * shape);
}

/** The schedule with totalSteps defaulted to `steps` (a stage's or run's length) where absent. */
export function withTotalSteps(schedule: LrSchedule, steps: number): LrSchedule {
  return schedule.type === 'constant' || schedule.totalSteps !== undefined ? schedule : { ...schedule, totalSteps: Math.max(1, steps) };
}
