import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadJsonlTask } from './jsonl';
import { decodeUtf8Strict, findInvalidUtf8 } from './utf8';

const dir = mkdtempSync(join(tmpdir(), 'emrl-utf8-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fatalDecodes = (b: Uint8Array): boolean => {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b);
    return true;
  } catch {
    return false;
  }
};

describe('findInvalidUtf8', () => {
  it('agrees with the fatal TextDecoder (WHATWG decoder) on 4000 random byte strings, and the prefix before the reported offset decodes', () => {
    let seed = 12345;
    const next = (): number => (seed = (seed * 1664525 + 1013904223) >>> 0);
    for (let t = 0; t < 4000; t++) {
      // Mostly valid text with random high bytes mixed in.
      const b = Uint8Array.from({ length: 1 + (next() % 12) }, () => (next() % 3 === 0 ? 0x80 + (next() % 128) : next() % 128));
      const bad = findInvalidUtf8(b);
      expect(bad === null, [...b].join(',')).toBe(fatalDecodes(b));
      if (bad) expect(fatalDecodes(b.subarray(0, bad.offset))).toBe(true);
    }
  });
  it('rejects overlongs, surrogates and code points above U+10FFFF; accepts 4-byte emoji', () => {
    expect(findInvalidUtf8(Uint8Array.from([0xc0, 0xaf]))?.offset).toBe(0);
    expect(findInvalidUtf8(Uint8Array.from([0x61, 0xed, 0xa0, 0x80]))?.offset).toBe(1);
    expect(findInvalidUtf8(Uint8Array.from([0xf4, 0x90, 0x80, 0x80]))?.offset).toBe(0);
    expect(findInvalidUtf8(new TextEncoder().encode('ok \u{1F600} é'))).toBeNull();
  });
});

describe('JSONL task files', () => {
  it('refuses Latin-1 bytes with line and byte offset instead of replacing them', () => {
    const good = '{"problem":"1+1","answer":"2"}\n';
    const bad = Buffer.concat([Buffer.from(good + '{"problem":"caf'), Buffer.from([0xe9]), Buffer.from('","answer":"3"}\n')]);
    const path = join(dir, 'latin1.jsonl');
    writeFileSync(path, bad);
    const offset = good.length + '{"problem":"caf'.length;
    expect(() => loadJsonlTask(path)).toThrow(`${path}:2: invalid UTF-8 at byte offset ${offset} (byte 16 of the line: e9 22 2c 22)`);
  });
  it('decodes valid UTF-8 (BOM dropped) exactly', () => {
    const text = '{"problem":"Größe × 2","answer":"Ω"}\n';
    const path = join(dir, 'bom.jsonl');
    writeFileSync(path, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]));
    const task = loadJsonlTask(path, { split: 'test' });
    expect(task.split('test')[0]!.prompt).toBe('Größe × 2');
    expect(decodeUtf8Strict(new TextEncoder().encode(text), 'x')).toBe(text);
  });
});
