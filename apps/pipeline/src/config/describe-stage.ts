import type { z } from 'zod';
import { schemaFields, type SchemaField } from './schema-fields';
import { aliasTableFor, type OptionAlias } from './trl-aliases';

/** Notes on options whose names mislead (shown by `emrl describe`). */
const FIELD_NOTES: Record<string, Record<string, string>> = {
  em: {
    entropyTemperature: 'NOT a sampling temperature: the entropy temperature tau of the EM loss. The rollouts are sampled at sampleTemperature (what TRL calls temperature).',
    temperature: 'The old name of entropyTemperature (the EM loss tau), still accepted.',
    sampleTemperature: "The sampling temperature of the rollouts (TRL's temperature).",
  },
};

const show = (v: unknown): string => (v === undefined ? 'none' : JSON.stringify(v));

/** TRL's default in emrl's terms (loss_type dapo -> bnpo, scale_rewards true -> group). */
function trlDefaultAsEmrl(a: OptionAlias): unknown {
  const hit = a.values?.find((v) => v.trl === a.trlDefault);
  return hit ? hit.emrl : a.trlDefault;
}

/** "TRL: loss_type (TRL default "dapo" = bnpo, same as emrl's)" */
function trlLine(f: SchemaField, aliases: OptionAlias[]): string | undefined {
  if (aliases.length === 0) return undefined;
  const parts = aliases.map((a) => {
    if (a.emrl === 'schedule') return `${a.trl} (TRL default ${show(a.trlDefault)}${a.note ? `; ${a.note}` : ''})`;
    const asEmrl = trlDefaultAsEmrl(a);
    const same = JSON.stringify(asEmrl) === JSON.stringify(f.default);
    const trlDefault = asEmrl !== a.trlDefault ? `${show(a.trlDefault)} = ${show(asEmrl)}` : show(a.trlDefault);
    const cmp = f.hasDefault ? (same ? 'same as emrl' : `DIFFERS: emrl ${show(f.default)}`) : 'emrl: none';
    return `${a.trl} (TRL default ${trlDefault}, ${cmp}${a.note ? `; ${a.note}` : ''})`;
  });
  return `TRL: ${parts.join('; ')}`;
}

/** Value aliases of an option: `loss_type: "dapo" -> bnpo -- <note>` lines. */
function valueLines(aliases: OptionAlias[]): string[] {
  const out: string[] = [];
  for (const a of aliases) {
    for (const v of a.values ?? []) {
      if ('note' in v && v.note) out.push(`  ${a.trl}: ${show(v.trl)} -> ${show(v.emrl)}: ${v.note}`);
    }
    for (const [value, reason] of Object.entries(a.unsupported ?? {})) out.push(`  ${a.trl}: ${show(value)} -> rejected: ${reason}`);
  }
  return out;
}

/**
 * Every option of a stage kind: type, default, TRL / verl names (and where emrl's default differs
 * from TRL's), the zod `.meta` description, and notes. Plain text for the terminal.
 */
export function describeStage(kind: string, schema: z.ZodType): string {
  const table = aliasTableFor(kind);
  const fields = schemaFields(schema);
  const lines = [`${kind} stage options (${fields.length}); write them under "- ${kind}: { ... }" in a pipeline file`];
  if (table.aliases.length > 0) lines.push(`TRL's GRPOConfig names are accepted as aliases (giving both a TRL name and its emrl name is an error).`);
  for (const f of fields) {
    const dflt = f.hasDefault ? `default ${show(f.default)}` : f.optional ? 'optional' : 'required';
    lines.push('', `${f.name}  ${f.type}  ${dflt}`);
    const aliases = table.aliases.filter((a) => a.emrl === f.name);
    const detail = [
      f.description,
      FIELD_NOTES[kind]?.[f.name],
      trlLine(f, aliases),
      ...valueLines(aliases),
      table.verl[f.name] ? `verl: ${table.verl[f.name]}` : undefined,
    ];
    for (const d of detail) if (d) lines.push(`    ${d}`);
  }
  const unsupported = Object.entries(table.unsupported);
  if (unsupported.length > 0) {
    lines.push('', 'TRL options without an emrl equivalent (rejected with this hint):');
    for (const [k, why] of unsupported) lines.push(`    ${k}: ${why}`);
  }
  return lines.join('\n');
}
