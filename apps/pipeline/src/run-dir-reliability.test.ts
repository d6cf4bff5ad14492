// Relocatable, validated run directories (issue 12, items 3 and 5) with the fake pipeline.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { RunDir } from './run-dir';
import { releaseRunLock } from './run-lock';
import { fromRunRelative, toRunRelative } from './run-paths';
import { removeStaleTempFiles, tempOwnerPid } from './run-temp-files';
import { metricsCsv, normalizedEvents } from './testing/compare';
import { interruptedFakeRun, resumeFakeRun, straightFakeRun, writeRealCheckpointLayout } from './testing/fake-runs';

const root = mkdtempSync(join(tmpdir(), 'emrl-reldir-'));
const ref = join(root, 'ref');
beforeAll(async () => {
  await straightFakeRun(ref);
});

const stateOf = (dir: string): { stages: { id: string; lastCheckpoint?: { step: number; path: string } }[]; eventsBytes: number } =>
  JSON.parse(readFileSync(join(dir, 'stage-state.json'), 'utf8'));

async function partial(name: string): Promise<string> {
  const dir = join(root, name);
  await interruptedFakeRun(dir);
  return dir;
}

async function expectSameAsStraight(dir: string): Promise<void> {
  await resumeFakeRun(dir);
  expect(normalizedEvents(dir)).toEqual(normalizedEvents(ref));
  expect(metricsCsv(dir)).toBe(metricsCsv(ref));
}

describe('run-paths', () => {
  it('stores paths inside the run relative and rebases old absolute ones', () => {
    expect(toRunRelative('/r/run', '/r/run/checkpoints/a/step-2')).toBe('checkpoints/a/step-2');
    expect(toRunRelative('/r/run', '/elsewhere/model')).toBe('/elsewhere/model');
    expect(fromRunRelative('/new/run', 'checkpoints/a/step-2')).toBe('/new/run/checkpoints/a/step-2');
    expect(fromRunRelative('/new/run', '/old/run/checkpoints/a/step-2')).toBe('/new/run/checkpoints/a/step-2');
    expect(fromRunRelative('/new/run', '/new/run/checkpoints/a/step-2')).toBe('/new/run/checkpoints/a/step-2');
    expect(fromRunRelative('/new/run', '/somewhere/else')).toBeNull();
  });
});

describe('relocatable run directories', () => {
  it('stage-state.json and checkpoint events hold paths relative to the run', async () => {
    const dir = await partial('relative');
    const train = stateOf(dir).stages.find((s) => s.id === 'train')!;
    expect(train.lastCheckpoint).toMatchObject({ step: 4, path: 'checkpoints/train/step-4' });
    const ckptEvents = readFileSync(join(dir, 'events.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"type":"checkpoint"'));
    expect(ckptEvents.length).toBeGreaterThan(0);
    expect(ckptEvents.every((l) => l.includes('"path":"checkpoints/'))).toBe(true);
    expect(readFileSync(join(dir, 'events.jsonl'), 'utf8')).not.toContain(dir);
  });
  it('log lines naming a path inside the run store it relative', () => {
    const dir = mkdtempSync(join(tmpdir(), 'emrl-logpath-'));
    const rd = RunDir.create({ dir, name: 'x' });
    rd.appendEvent({ type: 'log', stage: 's', level: 'info', message: `resumed from ${dir}/checkpoints/s/step-000002 (step 2); base model /models/base` });
    expect(rd.readEvents()[0]).toMatchObject({ message: 'resumed from checkpoints/s/step-000002 (step 2); base model /models/base' });
    releaseRunLock(rd.dir);
  });
  it('mv: a moved run resumes and equals the straight run', async () => {
    const dir = await partial('to-move');
    const moved = join(root, 'moved');
    renameSync(dir, moved);
    await expectSameAsStraight(moved);
  });
  it('cp -r: a copy resumes from its own checkpoints (the original deleted first)', async () => {
    const dir = await partial('original');
    const copy = join(root, 'copy');
    cpSync(dir, copy, { recursive: true });
    rmSync(dir, { recursive: true });
    await expectSameAsStraight(copy);
  });
  it('an old state file with absolute paths of another location still resumes', async () => {
    const dir = await partial('legacy');
    const state = stateOf(dir);
    for (const s of state.stages) if (s.lastCheckpoint) s.lastCheckpoint.path = `/old/place/legacy/${s.lastCheckpoint.path}`;
    writeFileSync(join(dir, 'stage-state.json'), JSON.stringify(state));
    await expectSameAsStraight(dir);
  });
});

describe('resume trusts nothing', () => {
  const damage = async (name: string, hurt: (dir: string) => void): Promise<string> => {
    const dir = await partial(name);
    hurt(dir);
    const err = await resumeFakeRun(dir).then(() => null, (e: unknown) => e);
    expect(err, name).toBeInstanceOf(Error);
    return (err as Error).message;
  };
  it('a truncated stage-state.json names the file instead of "Unexpected end of JSON input"', async () => {
    const msg = await damage('trunc-state', (d) => truncateSync(join(d, 'stage-state.json'), 40));
    expect(msg).toMatch(/trunc-state\/stage-state\.json: run state is not valid JSON/);
  });
  it('a schema violation names the field', async () => {
    const msg = await damage('bad-status', (d) => writeFileSync(join(d, 'stage-state.json'), readFileSync(join(d, 'stage-state.json'), 'utf8').replace('"running"', '"done"')));
    expect(msg).toMatch(/stage-state\.json: invalid run state: stages\.2\.status/);
  });
  it('a deleted checkpoint is an error, not a restart', async () => {
    const msg = await damage('no-ckpt', (d) => rmSync(join(d, 'checkpoints/train/step-4'), { recursive: true }));
    expect(msg).toMatch(/stage "train" resumes from checkpoints\/train\/step-4 \(step 4\), which does not exist/);
  });
  it('an event log shorter than the durable point is an error', async () => {
    const msg = await damage('short-log', (d) => truncateSync(join(d, 'events.jsonl'), 100));
    expect(msg).toMatch(/events\.jsonl: is 100 bytes but stage-state\.json records \d+ durable bytes/);
  });
  it('a missing stage-state.json next to events is an error', async () => {
    const msg = await damage('no-state', (d) => rmSync(join(d, 'stage-state.json')));
    expect(msg).toMatch(/stage-state\.json: missing, but events\.jsonl holds \d+ bytes/);
  });
  it('a checkpoint path outside the run is refused', async () => {
    const msg = await damage('outside', (d) => {
      const s = stateOf(d);
      s.stages[2]!.lastCheckpoint!.path = '/tmp/somewhere-else';
      writeFileSync(join(d, 'stage-state.json'), JSON.stringify(s));
    });
    expect(msg).toMatch(/stages\[2\]\.lastCheckpoint\.path "\/tmp\/somewhere-else" lies outside the run directory/);
  });
});

describe('training checkpoints seen from the app (latest.json, trainer-state.json, optimizer)', () => {
  /** A partial run whose train checkpoints look like @emrl/rl-grpo ones (trainer-state, weights, optimizer, latest.json). */
  async function realLayout(name: string): Promise<string> {
    const dir = await partial(name);
    writeRealCheckpointLayout(dir);
    return dir;
  }
  const check = (dir: string): RunDir => {
    const rd = RunDir.open(dir);
    rd.prepareResume();
    return rd;
  };
  it('a consistent layout passes without repairs', async () => {
    expect(check(await realLayout('ok-layout')).repairs).toEqual([]);
  });
  it('latest.json one checkpoint ahead (kill between its rename and the state save) is moved back', async () => {
    const dir = await realLayout('ahead');
    mkdirSync(join(dir, 'checkpoints/train/step-6'));
    writeFileSync(join(dir, 'checkpoints/train/latest.json'), JSON.stringify({ step: 6, path: 'step-6' }));
    const rd = check(dir);
    expect(rd.repairs).toEqual([{ file: join(dir, 'checkpoints/train/latest.json'), detail: expect.stringMatching(/pointed at step 6.*moved back to step 4/) }]);
    expect(JSON.parse(readFileSync(join(dir, 'checkpoints/train/latest.json'), 'utf8'))).toEqual({ step: 4, path: 'step-4' });
  });
  it.each([
    ['deleted latest.json', (d: string) => rmSync(join(d, 'checkpoints/train/latest.json')), /latest\.json: missing, but stage-state\.json resumes stage "train" from step 4/],
    ['latest.json behind', (d: string) => writeFileSync(join(d, 'checkpoints/train/latest.json'), '{"step":2,"path":"step-2"}'), /latest\.json: points at step 2, behind stage-state\.json \(step 4\)/],
    ['truncated latest.json', (d: string) => writeFileSync(join(d, 'checkpoints/train/latest.json'), '{"step":4,'), /latest\.json: checkpoint pointer is not valid JSON/],
    ['trainer-state step 999', (d: string) => writeFileSync(join(d, 'checkpoints/train/step-4/trainer-state.json'), '{"step":999}'), /step-4\/trainer-state\.json: records step 999 but stage-state\.json resumes stage "train" at step 4/],
    ['missing optimizer', (d: string) => rmSync(join(d, 'checkpoints/train/step-4/optimizer.safetensors')), /step-4\/optimizer\.safetensors: missing optimizer state/],
    ['missing weights', (d: string) => rmSync(join(d, 'checkpoints/train/step-4/model.safetensors')), /step-4\/model\.safetensors: missing model weights/],
  ])('%s is refused naming the file', async (name, hurt, pattern) => {
    const dir = await realLayout(name.replace(/\W+/g, '-'));
    hurt(dir);
    expect(() => check(dir)).toThrow(pattern);
  });
});

describe('temp files of killed processes', () => {
  it('are recognized by name and removed at the next start, except this process own', () => {
    expect(tempOwnerPid('step-000010.tmp-4242')).toBe(4242);
    expect(tempOwnerPid('.model.safetensors.tmp-77-9f0c1a2b')).toBe(77);
    expect(tempOwnerPid('stage-state.json.tmp-5-3')).toBe(5);
    expect(tempOwnerPid('step-000010')).toBeNull();
    const dir = mkdtempSync(join(tmpdir(), 'emrl-tmpfiles-'));
    mkdirSync(join(dir, 'checkpoints/grpo/step-000004.tmp-999999'), { recursive: true });
    writeFileSync(join(dir, 'checkpoints/grpo/step-000004.tmp-999999/model.safetensors'), 'x');
    writeFileSync(join(dir, 'checkpoints/grpo/.latest.json.tmp-999999-abcdef01'), 'x');
    writeFileSync(join(dir, 'metrics.csv.tmp-999999-0'), 'x');
    writeFileSync(join(dir, `mine.tmp-${process.pid}-0`), 'x');
    writeFileSync(join(dir, 'metrics.csv'), 'keep');
    const removed = removeStaleTempFiles(dir).map((p) => p.slice(dir.length + 1)).sort();
    expect(removed).toEqual(['checkpoints/grpo/.latest.json.tmp-999999-abcdef01', 'checkpoints/grpo/step-000004.tmp-999999', 'metrics.csv.tmp-999999-0']);
    expect(existsSync(join(dir, `mine.tmp-${process.pid}-0`))).toBe(true);
    expect(existsSync(join(dir, 'metrics.csv'))).toBe(true);
  });
});

describe('RunDir.create --out into an existing folder', () => {
  it('leaves temp-like files of a folder that is not a run alone', () => {
    const dir = mkdtempSync(join(tmpdir(), 'emrl-userdir-'));
    writeFileSync(join(dir, 'notes.txt.tmp-1234'), 'mine');
    const rd = RunDir.create({ dir, name: 'x' });
    expect(existsSync(join(dir, 'notes.txt.tmp-1234'))).toBe(true);
    releaseRunLock(rd.dir);
  });
});

describe('checkpoint file sizes recorded in stage-state.json', () => {
  it('are recorded with the checkpoint and a first checkpoint that lost its optimizer file is refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'emrl-manifest-'));
    const rd = RunDir.create({ dir, name: 'x' });
    const ck = join(dir, 'checkpoints/grpo/step-000002');
    mkdirSync(join(ck, 'adapters'), { recursive: true });
    writeFileSync(join(ck, 'model.safetensors'), 'w'.repeat(100));
    writeFileSync(join(ck, 'optimizer.safetensors'), 'o'.repeat(40));
    writeFileSync(join(ck, 'adapters/t.json'), '{}');
    const state = { version: 1 as const, stages: [{ id: 'grpo', kind: 'grpo', status: 'running' as const, wallMs: 0, lastCheckpoint: { step: 2, path: ck } }], boundaries: [], eventsBytes: 0, finished: false };
    rd.saveState(state);
    expect(stateOf(dir).stages[0]!.lastCheckpoint).toEqual({ step: 2, path: 'checkpoints/grpo/step-000002', files: { 'adapters/t.json': 2, 'model.safetensors': 100, 'optimizer.safetensors': 40 } });
    rmSync(join(ck, 'optimizer.safetensors'));
    expect(() => RunDir.open(dir).prepareResume()).toThrow(/step-000002\/optimizer\.safetensors: missing; stage-state\.json recorded it \(40 bytes\)/);
    releaseRunLock(rd.dir);
  });
});
