// Paths of the wrong kind on the command line (a folder for a file, a file for a folder) give a
// message naming the path, never a raw EISDIR / ENOTDIR (issue 12).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './cli';
import { createFakeRuntime } from './testing/fake-runtime';

const runtime = createFakeRuntime();
async function emrl(args: string[]): Promise<{ code: number; err: string }> {
  const err: string[] = [];
  const sink = (s: string[]) => ({ write: (x: string) => (s.push(x), true) }) as unknown as NodeJS.WritableStream;
  const code = await runCli(['node', 'emrl', ...args], { runtime: () => runtime, stdout: sink([]), stderr: sink(err) });
  return { code, err: err.join('') };
}

describe('wrong kinds of paths', () => {
  const dir = mkdtempSync(join(tmpdir(), 'emrl-paths-'));
  const cfg = join(dir, 'ok.yaml');
  writeFileSync(cfg, 'task: { type: fake }\nstages:\n  - count: { steps: 2 }\n');
  const aFile = join(dir, 'a-file');
  writeFileSync(aFile, 'x');
  const aFolder = join(dir, 'a-folder.yaml');
  mkdirSync(aFolder);

  it.each([
    ['config is a folder', ['run', aFolder], `${aFolder}: is a directory; give the pipeline file itself`],
    ['--out is a file', ['run', cfg, '--out', aFile, '--no-report'], `${aFile}: is a file, not a run directory; choose another --out`],
    ['--out under a file', ['run', cfg, '--out', join(aFile, 'run'), '--no-report'], `${join(aFile, 'run')}: a parent of this path is a file, not a folder; choose another --out`],
    ['--runs is a file', ['run', cfg, '--runs', aFile, '--no-report'], 'a parent of this path is a file, not a folder; choose another --runs'],
    ['resume a file', ['resume', aFile], `${aFile}: not a run directory`],
    ['report a file', ['report', aFile], `${aFile}: not a run or sweep directory`],
  ])('%s', async (_name, args, message) => {
    const r = await emrl(args);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain(message);
    expect(r.err).not.toMatch(/EISDIR|ENOTDIR|EEXIST/);
  });
});
