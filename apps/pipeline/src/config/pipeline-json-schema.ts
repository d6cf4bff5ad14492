import { z } from 'zod';
import { PipelineFileSchema } from './pipeline-schema';
import type { StageRegistry } from './stage-registry';
import { aliasTableFor } from './trl-aliases';

type JsonSchema = Record<string, unknown> & { properties?: Record<string, JsonSchema>; additionalProperties?: unknown };

const toJson = (s: z.ZodType): JsonSchema => {
  const js = z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  delete js['$schema'];
  return js;
};

/** TRL alias properties of a stage block: editors complete them, described as what they set. */
function aliasProperties(kind: string, options: JsonSchema): Record<string, JsonSchema> {
  const out: Record<string, JsonSchema> = {};
  for (const a of aliasTableFor(kind).aliases) {
    if (a.trl === a.emrl) continue;
    const target = a.emrl === 'schedule' ? undefined : options.properties?.[a.emrl];
    const values = a.values ? { enum: [...new Set([...a.values.map((v) => v.trl), ...a.values.map((v) => v.emrl)])] } : {};
    const base: JsonSchema = target ? { ...target } : {};
    delete base['default'];
    if (a.trl === 'lr_scheduler_type') Object.assign(base, { enum: ['constant', 'cosine'] });
    if (a.trl === 'warmup_ratio') Object.assign(base, { type: 'number', minimum: 0, maximum: 1 });
    if (a.trl === 'warmup_steps') Object.assign(base, { type: 'integer', minimum: 0 });
    if (a.values) delete base['type'];
    out[a.trl] = { ...base, ...values, description: `TRL name of emrl's "${a.emrl}"${a.note ? ` (${a.note})` : ''}. Do not give both.` };
  }
  return out;
}

/**
 * JSON Schema (draft 2020-12) of a pipeline file, generated from the same zod schemas the loader
 * uses: the top level from PipelineFileSchema, each `stages` entry from the registered stage kinds
 * (plus their TRL aliases), for editor completion (`# yaml-language-server: $schema=...`).
 */
export function pipelineJsonSchema(registry: StageRegistry): JsonSchema {
  const root = toJson(PipelineFileSchema);
  const stages = registry.kinds().sort().map((kind) => {
    const options = toJson(registry.get(kind)!.schema);
    options.properties = { ...options.properties, ...aliasProperties(kind, options) };
    return { type: 'object', properties: { [kind]: options }, required: [kind], additionalProperties: false, description: `a "${kind}" stage` };
  });
  root.properties = { ...root.properties, stages: { type: 'array', description: 'ordered list of { <kind>: { options } }', items: { oneOf: stages } } };
  return { $schema: 'https://json-schema.org/draft/2020-12/schema', title: 'emrl pipeline file', ...root };
}
