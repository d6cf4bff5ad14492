import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filter, firstValueFrom, lastValueFrom, map, type Observable, take, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { Policy, Stage, StageContext, StageEvent } from '@emrl/rl-grpo';
import type { PipelineEvent } from './pipeline-events';
import { RunDir } from './run-dir';
import { runPipeline } from './scheduler';
import { metricsCsv, normalizedEvents } from './testing/compare';
import { countStageFactory, fakeDiagnose, fakePolicy, fakeTask, loadFakeCheckpoint, probeStageFactory } from './testing/fake-stages';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'emrl-sched-'));
const count = (id: string, steps: number, extra: Record<string, unknown> = {}): Stage =>
  countStageFactory.create(id, countStageFactory.schema.parse({ steps, ...extra })) as unknown as Stage;
const probe = (id: string): Stage => probeStageFactory.create(id, probeStageFactory.schema.parse({})) as unknown as Stage;
const context = { policy: fakePolicy('base'), task: fakeTask, seed: 7 };

describe('runPipeline (marbles)', () => {
  const p0 = fakePolicy('p0');
  const p1 = fakePolicy('p1');
  const p2 = fakePolicy('p2');

  function setup(ts: TestScheduler, bMarble: string) {
    const seen: StageContext[] = [];
    const aEvents = { s: { type: 'started', stage: 'a', kind: 'k', totalSteps: 1, time: 0 }, f: { type: 'finished', stage: 'a', policy: p1, summary: {} } } as Record<string, StageEvent>;
    const bEvents = { s: { type: 'started', stage: 'b', kind: 'k', totalSteps: 2, time: 0 }, m: { type: 'metrics', stage: 'b', step: 1, metrics: { loss: 1 } }, f: { type: 'finished', stage: 'b', policy: p2, summary: {} } } as Record<string, StageEvent>;
    const a = ts.createColdObservable('-s-f|', aEvents);
    const b = ts.createColdObservable(bMarble, bEvents);
    const stage = (id: string, obs: Observable<StageEvent>): Stage => ({ id, kind: 'k', config: {}, run: (ctx) => (seen.push(ctx), obs) });
    const diagnosed: string[] = [];
    const diagnose = (p: Policy, boundary: string) => {
      diagnosed.push(`${boundary}:${p.name}`);
      return ts.createColdObservable('--(d|)', { d: { policy: p.name } });
    };
    const runDir = RunDir.create({ dir: tmp(), name: 't' });
    const events = runPipeline({ stages: [stage('a', a), stage('b', b)], context: { ...context, policy: p0 }, diagnose, runDir, now: () => ts.now() });
    return { a, b, seen, diagnosed, events, runDir };
  }

  // One letter per event: r run-started, D diagnostics, s/f stage a, t/m/g stage b, F run-finished.
  const letter = (e: PipelineEvent): string =>
    e.type === 'run-started' ? 'r' : e.type === 'diagnostics' ? 'D' : e.type === 'run-finished' ? 'F' : e.type === 'run-interrupted' ? 'I'
      : `${'stage' in e ? e.stage : '?'}:${e.type}`;
  const L: Record<string, string> = { r: 'r', D: 'D', F: 'F', s: 'a:started', f: 'a:finished', t: 'b:started', m: 'b:metrics', g: 'b:finished' };

  it('orders boundaries and stages and passes policies along', () => {
    const ts = new TestScheduler((x, y) => expect(x).toEqual(y));
    let s!: ReturnType<typeof setup>;
    ts.run(({ expectObservable, expectSubscriptions }) => {
      s = setup(ts, '-s-m-f|');
      expectObservable(s.events.pipe(map(letter))).toBe('r-Ds-f--Dt-m-g--(DF|)', L);
      expectSubscriptions(s.a.subscriptions).toBe('--^---!');
      expectSubscriptions(s.b.subscriptions).toBe('--------^-----!');
    });
    expect(s.diagnosed).toEqual(['start:p0', 'after:a:p1', 'after:b:p2']);
    expect(s.seen.map((c) => c.policy.name)).toEqual(['p0', 'p1']);
    expect(s.seen.map((c) => c.checkpointDir)).toEqual([s.runDir.checkpointDir('a'), s.runDir.checkpointDir('b')]);
  });

  it('unsubscribing cancels the running stage and records the interruption', () => {
    const ts = new TestScheduler((x, y) => expect(x).toEqual(y));
    let s!: ReturnType<typeof setup>;
    ts.run(({ expectObservable, expectSubscriptions }) => {
      s = setup(ts, '-s-m---------f|');
      expectObservable(s.events.pipe(map(letter)), '^-----------!').toBe('r-Ds-f--Dt-m', L);
      expectSubscriptions(s.b.subscriptions).toBe('--------^---!');
    });
    const state = s.runDir.readState()!;
    expect(state.stages.map((x) => x.status)).toEqual(['completed', 'running']);
    expect(state.interrupted).toBe(true);
    expect(s.runDir.readEvents().at(-1)).toMatchObject({ type: 'run-interrupted', stage: 'b' });
    expect(s.diagnosed).toEqual(['start:p0', 'after:a:p1']);
  });
});

describe('runPipeline (fake stages, real time)', () => {
  const stages = (): Stage[] => [count('warm', 4), probe('probe'), count('train', 6, { checkpointEvery: 2 })];

  async function straight(): Promise<string> {
    const dir = tmp();
    const runDir = RunDir.create({ dir, name: 't' });
    await lastValueFrom(runPipeline({ stages: stages(), context, diagnose: fakeDiagnose, runDir, loadCheckpoint: loadFakeCheckpoint }));
    return dir;
  }

  it('writes events, a union-column metrics.csv and a finished state', async () => {
    const dir = await straight();
    const rd = RunDir.open(dir);
    const events = rd.readEvents();
    expect(events.filter((e) => e['type'] === 'diagnostics').map((e) => e['boundary'])).toEqual(['start', 'after:warm', 'after:probe', 'after:train']);
    const finished = events.filter((e) => e['type'] === 'finished');
    expect(finished.map((e) => e['policy'])).toEqual(['base>warm@4', 'base>warm@4', 'base>warm@4>train@6']);
    const csv = metricsCsv(dir).split('\n');
    expect(csv[0]).toBe('stage,step,loss,reward/mean,entropy/mean,eval/accuracy');
    expect(csv[1]).toMatch(/^warm,1,[\d.e-]+,[\d.e-]+,,$/);
    expect(csv.filter((l) => l.length > 0)).toHaveLength(1 + 4 + 1 + 6);
    const state = rd.readState()!;
    expect(state.finished).toBe(true);
    expect(state.stages.map((s) => [s.id, s.status, s.policyChanged])).toEqual([['warm', 'completed', true], ['probe', 'completed', false], ['train', 'completed', true]]);
    expect(state.stages[2]!.lastCheckpoint!.step).toBe(6);
    expect(events.at(-1)!['type']).toBe('run-finished');
  });

  it('resumes after an unsubscribe mid-stage with the same events and metrics as a straight run', async () => {
    const ref = await straight();
    const dir = tmp();
    const rd = RunDir.create({ dir, name: 't' });
    // Stop at the progress of train step 3 (checkpoint at 2 is on disk).
    await firstValueFrom(
      runPipeline({ stages: stages(), context, diagnose: fakeDiagnose, runDir: rd }).pipe(
        filter((e) => e.type === 'progress' && e.stage === 'train' && e.step === 3),
        take(1),
      ),
    );
    expect(rd.readState()!.stages[2]).toMatchObject({ status: 'running', lastCheckpoint: { step: 2 } });
    const resumed = await lastValueFrom(
      runPipeline({ stages: stages(), context, diagnose: fakeDiagnose, runDir: RunDir.open(dir), resume: true, loadCheckpoint: loadFakeCheckpoint }).pipe(toArray()),
    );
    expect(resumed.filter((e) => e.type === 'stage-skipped').map((e) => 'stage' in e && e.stage)).toEqual(['warm', 'probe']);
    expect(resumed.find((e) => e.type === 'stage-resumed')).toMatchObject({ stage: 'train', fromStep: 2 });
    expect(normalizedEvents(dir)).toEqual(normalizedEvents(ref));
    expect(metricsCsv(dir)).toBe(metricsCsv(ref));
    expect(readFileSync(join(dir, 'events.interrupted-1.jsonl'), 'utf8')).toContain('run-interrupted');
  });

  it('resumes between stages by loading the last policy-changing checkpoint', async () => {
    const ref = await straight();
    const dir = tmp();
    const rd = RunDir.create({ dir, name: 't' });
    await firstValueFrom(runPipeline({ stages: stages(), context, diagnose: fakeDiagnose, runDir: rd }).pipe(filter((e) => e.type === 'diagnostics' && e.boundary === 'after:probe'), take(1)));
    const loaded: string[] = [];
    await lastValueFrom(
      runPipeline({ stages: stages(), context, diagnose: fakeDiagnose, runDir: RunDir.open(dir), resume: true, loadCheckpoint: (p) => (loaded.push(p), loadFakeCheckpoint(p)) }),
    );
    expect(loaded).toEqual([join(dir, 'checkpoints', 'warm', 'step-4')]);
    expect(normalizedEvents(dir)).toEqual(normalizedEvents(ref));
  });

  it('records a failing stage and rejects resuming a different pipeline', async () => {
    const dir = tmp();
    const rd = RunDir.create({ dir, name: 't' });
    await expect(lastValueFrom(runPipeline({ stages: [count('bad', 5, { failAt: 3 })], context, diagnose: fakeDiagnose, runDir: rd }))).rejects.toThrow('fake failure at step 3');
    expect(rd.readState()!.failed).toBe('fake failure at step 3');
    expect(rd.readEvents().at(-1)).toMatchObject({ type: 'run-failed', stage: 'bad' });
    await expect(lastValueFrom(runPipeline({ stages: [count('other', 5)], context, diagnose: fakeDiagnose, runDir: RunDir.open(dir), resume: true }))).rejects.toThrow(/recorded stages \(bad:count\) differ/);
  });

  it('tolerates a torn last line in events.jsonl (kill -9 during a write)', async () => {
    const dir = await straight();
    writeFileSync(join(dir, 'events.jsonl'), readFileSync(join(dir, 'events.jsonl'), 'utf8') + '{"type":"prog');
    expect(RunDir.open(dir).readEvents().at(-1)!['type']).toBe('run-finished');
  });
});
