// Bad Hugging Face input through the CLI (issue 11, "Bad input"): a directory with a missing file,
// an unknown model_type, a shape or dtype that does not fit, an adapter for another base model, a
// chat template that fails to render. Each is an error naming the file, the key and the fix, and
// nothing is written (the --out directory never appears).
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT } from './cli';
import { emrlInProcess, MATH_SMALL, REPO, TINY_QWEN2 } from './testing/e2e-helpers';

const root = mkdtempSync(join(tmpdir(), 'emrl-bad-model-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const SMALL = ['--set', 'eval.limit=2', '--set', 'eval.maxNewTokens=4', '--set', 'diagnostics.enabled=false'];

/** A copy of the tiny-qwen2 fixture with one defect. */
function broken(name: string, edit: (dir: string) => void): string {
  const dir = join(root, name);
  cpSync(TINY_QWEN2, dir, { recursive: true });
  edit(dir);
  return dir;
}

function editJson(file: string, edit: (j: Record<string, unknown>) => void): void {
  const j = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  edit(j);
  writeFileSync(file, JSON.stringify(j));
}

/** Rewrites the safetensors header of the first tensor with `edit` (data unchanged). */
function editHeader(file: string, edit: (t: { dtype: string; shape: number[] }) => void): void {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[] }>;
  edit(header[Object.keys(header).filter((k) => k !== '__metadata__').sort()[0]!]!);
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - (text.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(text.length));
  writeFileSync(file, Buffer.concat([len, Buffer.from(text), buf.subarray(8 + n)]));
}

async function expectRefused(args: string[], messages: RegExp[]): Promise<void> {
  const out = join(root, `out-${Math.random().toString(36).slice(2)}`);
  const r = await emrlInProcess(['eval', ...args, '--task', MATH_SMALL, '--out', out, ...SMALL]);
  expect(r.code, r.out).not.toBe(EXIT.ok);
  for (const m of messages) expect(r.err).toMatch(m);
  expect(existsSync(out)).toBe(false);
}

describe('bad Hugging Face input: named file, key and fix; nothing written', () => {
  it('a missing tokenizer.json or model.safetensors', async () => {
    const noTok = broken('no-tokenizer', (d) => rmSync(join(d, 'tokenizer.json')));
    await expectRefused(['--model', noTok], [/no-tokenizer\/tokenizer\.json: missing tokenizer; a pretrained directory must contain config\.json, model\.safetensors/]);
    const noWeights = broken('no-weights', (d) => rmSync(join(d, 'model.safetensors')));
    await expectRefused(['--model', noWeights], [/no-weights.*model\.safetensors/]);
  });

  it('an unknown model_type', async () => {
    const dir = broken('mistral', (d) => editJson(join(d, 'config.json'), (j) => (j['model_type'] = 'mistral')));
    await expectRefused(['--model', dir], [/mistral\/config\.json: field "model_type" = "mistral" is not supported; emrl loads gpt2, llama, qwen2, qwen3/]);
  });

  it('a weight shape that does not match config.json', async () => {
    const dir = broken('shape', (d) => editJson(join(d, 'config.json'), (j) => (j['intermediate_size'] = 48)));
    await expectRefused(['--model', dir], [/shape: weights do not match config\.json: .*gate_proj\.weight has shape \[64, 32\], expected \[48, 32\].*restore the config\.json shipped with these weights/]);
  });

  it('a dtype that does not fit the data', async () => {
    const dir = broken('dtype', (d) => editHeader(join(d, 'model.safetensors'), (t) => (t.dtype = 'F32')));
    await expectRefused(['--model', dir], [/dtype\/model\.safetensors \(tensor "[^"]+"\): data_offsets span \d+ bytes but shape .* of F32 needs \d+; .*save it again/]);
  });

  it('a PEFT adapter made for another base model', async () => {
    const adapter = join(REPO, 'libs/lm/fixtures/tiny-llama3-lora');
    await expectRefused(['--model', TINY_QWEN2, '--set', `model.adapter=${adapter}`], [/tiny-llama3-lora.*adapter_model\.safetensors: tensor .* has shape .*: the adapter was made for another base model/]);
    const out = join(root, 'merged-wrong-base');
    const merge = await emrlInProcess(['merge', TINY_QWEN2, '--adapter', adapter, '--out', out]);
    expect(merge.code).not.toBe(EXIT.ok);
    expect(merge.err).toMatch(/adapter_model\.safetensors: tensor .* has shape .*: the adapter was made for another base model/);
    expect(existsSync(out)).toBe(false);
  });

  it('a chat template that does not parse, or fails to render the prompt', async () => {
    const parse = broken('template-parse', (d) => editJson(join(d, 'tokenizer_config.json'), (j) => (j['chat_template'] = '{% if %}')));
    await expectRefused(['--model', parse, '--set', 'task.chatTemplate=on'], [/template-parse \(tokenizer_config\.json or chat_template\.jinja\): chat_template does not parse as Jinja.*fix or remove "chat_template"/]);
    const render = broken('template-render', (d) => editJson(join(d, 'tokenizer_config.json'), (j) => (j['chat_template'] = "{{ raise_exception('System role not supported') }}")));
    await expectRefused(
      ['--model', render, '--set', 'task.chatTemplate=on'],
      [/template-render \(tokenizer_config\.json or chat_template\.jinja\): chat_template failed to render .*System role not supported; .*chatTemplate: off/],
    );
  });
});
