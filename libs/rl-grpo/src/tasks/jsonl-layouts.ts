/**
 * Field layouts of JSONL math datasets as Hugging Face hosts them, so `format: math500` loads a
 * file without field options:
 * - MATH500 (HuggingFaceH4/MATH-500): problem, solution, answer, subject, level, unique_id
 * - Minerva Math (the Minerva OCW problems): problem, solution; the answer is the solution's last \boxed{}
 * - OlympiadBench: id, question, solution (list), final_answer (list of strings), unit, answer_type, ...
 * - AMC23: id, question, answer (a number), url
 * Plus the generic layout: the problem in `problem`, `prompt` (TRL's name; a string or a list of
 * chat messages) or `question`, the answer in `answer`. Each dataset layout falls back to the
 * generic fields, and its id field is optional (`<file>-<line>` otherwise).
 */
import type { ChatMessage } from '@emrl/lm';
import { extractBoxedAnswer } from './answer';

export const DATASET_FORMATS = ['math500', 'minerva-math', 'olympiadbench', 'amc23'] as const;
export type DatasetFormat = (typeof DATASET_FORMATS)[number];

/** Where a line's answer is: a field, optionally the last \\boxed{} inside it. */
export interface AnswerSource {
  field: string;
  boxed?: boolean;
}

export interface DatasetLayout {
  /** Fields tried in order for the problem (the first present wins). */
  problemFields: readonly string[];
  /** Answer sources tried in order (the first whose field is present wins). */
  answers: readonly AnswerSource[];
  /** Field holding the id; absent on a line -> `<file>-<line>` unless `idRequired`. */
  idField?: string;
  idRequired?: boolean;
  /** Fields kept in each example's meta. */
  metaFields: readonly string[];
}

const GENERIC_PROBLEM = ['problem', 'prompt', 'question'];

export const GENERIC_LAYOUT: DatasetLayout = { problemFields: GENERIC_PROBLEM, answers: [{ field: 'answer' }], metaFields: [] };

// Each dataset's own fields first, then the generic ones, so one `format` also reads the generic
// lines of another file of the task (e.g. the paper's sail prompt next to a MATH500 test file).
export const DATASET_LAYOUTS: Record<DatasetFormat, DatasetLayout> = {
  math500: { problemFields: GENERIC_PROBLEM, answers: [{ field: 'answer' }], idField: 'unique_id', metaFields: ['subject', 'level'] },
  'minerva-math': { problemFields: GENERIC_PROBLEM, answers: [{ field: 'solution', boxed: true }, { field: 'answer' }], metaFields: ['type', 'idx'] },
  olympiadbench: {
    problemFields: ['question', 'problem', 'prompt'],
    answers: [{ field: 'final_answer' }, { field: 'answer' }],
    idField: 'id',
    metaFields: ['subfield', 'answer_type', 'unit', 'is_multiple_answer'],
  },
  amc23: { problemFields: ['question', 'problem', 'prompt'], answers: [{ field: 'answer' }], idField: 'id', metaFields: ['url'] },
};

export interface LayoutFieldOptions {
  problemField?: string;
  answerField?: string;
  idField?: string;
}

/** The layout of a format name (answer formats use the generic one); explicit field options replace its choices. */
export function resolveLayout(format: string, o: LayoutFieldOptions): DatasetLayout {
  const base = (DATASET_LAYOUTS as Record<string, DatasetLayout>)[format] ?? GENERIC_LAYOUT;
  return {
    ...base,
    ...(o.problemField ? { problemFields: [o.problemField] } : {}),
    ...(o.answerField ? { answers: [{ field: o.answerField }] } : {}),
    ...(o.idField ? { idField: o.idField, idRequired: true } : {}),
  };
}

/** What one line holds: the problem (text or TRL conversational messages), the answer, id and meta. */
export interface LayoutRow {
  problem: string | ChatMessage[];
  answer: string;
  id?: string;
  meta: Record<string, unknown>;
}

const typeName = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

function readMessages(v: unknown[], field: string): ChatMessage[] | string {
  const out: ChatMessage[] = [];
  for (const [i, m] of v.entries()) {
    const rec = m as Record<string, unknown> | null;
    if (typeof rec !== 'object' || rec === null || typeof rec['role'] !== 'string' || typeof rec['content'] !== 'string') {
      return `field '${field}' item ${i} must be a chat message {"role": string, "content": string} (TRL conversational format), got ${JSON.stringify(m)}`;
    }
    out.push({ role: rec['role'], content: rec['content'] });
  }
  if (!out.some((m) => m.role === 'user' && m.content.trim() !== '')) return `field '${field}' has no non-empty user message`;
  return out;
}

function readAnswer(v: unknown, source: AnswerSource): string {
  const field = source.field;
  let text: string;
  if (typeof v === 'string' || typeof v === 'number') text = String(v);
  else if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' || typeof x === 'number')) text = v.map(String).join(', ');
  else throw new Error(`field '${field}' must be a string, a number or a list of them (got ${typeName(v)})`);
  if (source.boxed) {
    const boxed = extractBoxedAnswer(text);
    if (boxed === null) throw new Error(`field '${field}' has no \\boxed{...} final answer; set answerField to a field holding the answer`);
    text = boxed;
  }
  if (text.trim() === '') throw new Error(`field '${field}' is empty`);
  return text.trim();
}

/**
 * Reads one JSON object in a layout. Throws an Error whose message names the field and the option
 * to set (the caller adds file and line).
 */
export function readLayoutRow(obj: Record<string, unknown>, layout: DatasetLayout): LayoutRow {
  const pField = layout.problemFields.find((f) => f in obj);
  if (pField === undefined) {
    const names = layout.problemFields.map((f) => `'${f}'`).join(' or ');
    throw new Error(`field ${names} is missing; set problemField if your file names it differently`);
  }
  const pv = obj[pField];
  let problem: string | ChatMessage[];
  if (typeof pv === 'string') {
    if (pv.trim() === '') throw new Error(`field '${pField}' is empty`);
    problem = pv;
  } else if (Array.isArray(pv)) {
    const msgs = readMessages(pv, pField);
    if (typeof msgs === 'string') throw new Error(msgs);
    problem = msgs;
  } else {
    throw new Error(`field '${pField}' must be a string or a list of chat messages (got ${typeName(pv)})`);
  }
  const source = layout.answers.find((a) => a.field in obj);
  if (source === undefined) {
    const names = layout.answers.map((a) => `'${a.field}'`).join(' or ');
    throw new Error(`field ${names} is missing; set answerField if your file names it differently`);
  }
  const answer = readAnswer(obj[source.field], source);
  let id: string | undefined;
  if (layout.idField) {
    const iv = obj[layout.idField];
    if (iv === undefined && layout.idRequired) throw new Error(`field '${layout.idField}' is missing; set idField if your file names it differently`);
    if (iv !== undefined) {
      if (!(typeof iv === 'number' || (typeof iv === 'string' && iv !== ''))) throw new Error(`field '${layout.idField}' must be a string or a number (got ${typeName(iv)})`);
      id = String(iv);
    }
  }
  const meta: Record<string, unknown> = {};
  for (const f of layout.metaFields) if (f in obj) meta[f] = obj[f];
  return { problem, answer, ...(id !== undefined ? { id } : {}), meta };
}
