import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError, formatIssues } from '../config/config-error';
import { absolutizeConfigPaths, readConfigFile, readPipelineFile } from '../config/load-config';
import { applyOverride } from '../config/overrides';
import { presetPath } from '../config/presets';

const AxisValueSchema = z.union([z.number(), z.string(), z.boolean()]);

export const SweepConfigSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "_" and "-" only').optional(),
    description: z.string().optional(),
    base: z.string().min(1).meta({ description: 'base pipeline: a path relative to the sweep file, or "preset:<name>"' }),
    curricula: z
      .record(z.string().regex(/^[A-Za-z0-9._-]+$/), z.array(z.union([z.string(), z.record(z.string(), z.unknown())])).min(1))
      .optional()
      .meta({ description: 'name -> stage list; a bare kind reuses that stage\'s options from the base pipeline' }),
    axes: z
      .record(z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$/, 'expected <kind>.<option>[.<sub>...], e.g. em.steps'), z.array(AxisValueSchema).min(1))
      .default({})
      .meta({ description: 'e.g. em.steps: [5, 10]; grpo.plugins.em-regularizer.coef: [0, 0.01]' }),
    seeds: z.array(z.number().int().min(0)).min(1).default([0]),
    concurrency: z.number().int().positive().default(1),
  })
  .strict();
export type SweepConfig = z.infer<typeof SweepConfigSchema>;

export interface SweepCell {
  /** Stable id, e.g. "em-then-grpo_em.steps-10_seed-1" (folder name under cells/). */
  id: string;
  /** Id without the seed: cells sharing it are aggregated as mean +- std. */
  group: string;
  curriculum: string | null;
  /** Axis values; null where the axis does not apply to this curriculum. */
  axes: Record<string, AxisValue | null>;
  seed: number;
  /** Pipeline file data for this cell (validated by the caller). */
  pipeline: Record<string, unknown>;
}
type AxisValue = z.infer<typeof AxisValueSchema>;

export function loadSweepConfig(file: string): { config: SweepConfig; base: Record<string, unknown>; baseFile: string } {
  const data = readConfigFile(file);
  const parsed = SweepConfigSchema.safeParse(data);
  if (!parsed.success) throw new ConfigError(file, formatIssues(parsed.error.issues, data, SweepConfigSchema));
  const baseFile = parsed.data.base.startsWith('preset:') ? presetPath(parsed.data.base.slice('preset:'.length)) : resolve(dirname(file), parsed.data.base);
  const base = readPipelineFile(baseFile);
  if (base === null || typeof base !== 'object' || Array.isArray(base)) throw new ConfigError(baseFile, ['expected a pipeline (an object with model, task, stages)']);
  return { config: parsed.data, base: base as Record<string, unknown>, baseFile };
}

const slug = (v: unknown): string => String(v).replace(/[^A-Za-z0-9.]+/g, '-');

function curriculumStages(base: Record<string, unknown>, list: readonly (string | Record<string, unknown>)[]): Record<string, unknown>[] {
  const baseStages = Array.isArray(base['stages']) ? (base['stages'] as Record<string, unknown>[]) : [];
  return list.map((item) => {
    if (typeof item !== 'string') return item;
    return baseStages.find((s) => s && typeof s === 'object' && item in s) ?? { [item]: {} };
  });
}

function product<T>(lists: readonly (readonly T[])[]): T[][] {
  return lists.reduce<T[][]>((acc, list) => acc.flatMap((prefix) => list.map((v) => [...prefix, v])), [[]]);
}

/** The grid: curricula x axis values x seeds, with axes that don't apply collapsed (deduplicated). */
export function expandSweep(config: SweepConfig, base: Record<string, unknown>, sweepFile = 'sweep'): SweepCell[] {
  const curricula: [string | null, Record<string, unknown>[] | null][] = config.curricula
    ? Object.entries(config.curricula).map(([name, list]) => [name, curriculumStages(base, list)])
    : [[null, null]];
  const axisNames = Object.keys(config.axes);
  const cells = new Map<string, SweepCell>();
  const unmatched = new Set(axisNames);
  for (const [curriculum, stages] of curricula) {
    for (const values of product(axisNames.map((a) => config.axes[a]!))) {
      for (const seed of config.seeds) {
        let pipeline: Record<string, unknown> = { ...base, ...(stages ? { stages } : {}) };
        const axes: Record<string, AxisValue | null> = {};
        axisNames.forEach((a, i) => {
          const r = applyOverride(pipeline, a, values[i]);
          axes[a] = r.matched ? values[i]! : null;
          if (r.matched) unmatched.delete(a);
          pipeline = r.data;
        });
        const groupParts = [...(curriculum ? [curriculum] : []), ...axisNames.filter((a) => axes[a] !== null).map((a) => `${a}-${slug(axes[a])}`)];
        const group = groupParts.join('_') || 'base';
        const id = `${group}_seed-${seed}`;
        // A relative task.path / model.path axis value names a file next to the sweep file.
        pipeline = { ...(absolutizeConfigPaths(pipeline, sweepFile) as Record<string, unknown>), seed, name: `${config.name ?? 'sweep'}_${id}` };
        if (!cells.has(id)) cells.set(id, { id, group, curriculum, axes, seed, pipeline });
      }
    }
  }
  if (unmatched.size > 0) {
    throw new ConfigError(sweepFile, [...unmatched].map((a) => `axes.${a}: no stage of kind "${a.split('.')[0]}" in any curriculum or the base pipeline`));
  }
  return [...cells.values()];
}
