import { stringify } from 'yaml';
import { resolveConfig } from '../config/load-config';
import type { PipelineConfig } from '../config/pipeline-schema';

/**
 * `--dry-run`: the validated pipeline with every default filled (what config.json would record),
 * as YAML, and the order of the stages. Nothing is loaded or run.
 */
export function formatPlan(config: PipelineConfig): string {
  const resolved = resolveConfig(config);
  const order = config.stages.map((s) => (s.id === s.kind ? s.id : `${s.id} (${s.kind})`)).join(' -> ') || '(no stages)';
  return [
    `dry run: "${config.name}" is valid; nothing was loaded or run.`,
    `plan: diagnostics at start${config.stages.map((s) => `, ${s.id}, diagnostics`).join('')}${config.diagnostics.enabled ? '' : ' (diagnostics disabled)'}`,
    `stages: ${order}`,
    '',
    '# resolved pipeline (every default filled):',
    stringify(resolved, { lineWidth: 0 }).trimEnd(),
  ].join('\n');
}
