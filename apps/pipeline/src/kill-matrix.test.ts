// Kill matrix for the run directory's own durable writes (issue 12): a fake run stops the world at
// every failpoint (before and after each rename of config.json / stage-state.json / metrics.csv,
// after each append to events.jsonl / metrics.csv) and copies the directory: exactly what a
// SIGKILL there leaves on disk, since every write is synchronous. Kills inside a write are
// simulated too: the temp file cut in half before a rename, the last appended line torn. Each copy
// is then resumed as `emrl resume` does and must equal the straight run, metrics row for metrics
// row. (Checkpoint writes of the real trainer are the lead's; stage-checkpoint.ts can call failpoint().)
import { cpSync, existsSync, mkdtempSync, readFileSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { setFailpointHook } from './failpoints';
import { RunDir } from './run-dir';
import { metricsCsv, normalizedEvents } from './testing/compare';
import { resumeFakeRun, straightFakeRun } from './testing/fake-runs';

const root = mkdtempSync(join(tmpdir(), 'emrl-killmatrix-'));
const ref = join(root, 'straight');
const snapshots: { name: string; dir: string }[] = [];

/** Copies the run at a failpoint, with the in-flight write torn where a kill inside it would tear it. */
function snapshot(point: string, file: string): void {
  const n = snapshots.length;
  const dir = join(root, `kill-${String(n).padStart(3, '0')}`);
  cpSync(ref, dir, { recursive: true });
  const inCopy = join(dir, relative(ref, file));
  if (point === 'before-rename') truncateSync(inCopy, Math.floor(readFileSync(inCopy).length / 2));
  if (point === 'after-append') {
    const text = readFileSync(inCopy, 'utf8');
    const lastLine = text.slice(text.lastIndexOf('\n', text.length - 2) + 1);
    truncateSync(inCopy, Buffer.byteLength(text) - Math.ceil(Buffer.byteLength(lastLine) / 2));
  }
  snapshots.push({ name: `${n} ${point} ${basename(file)}`, dir });
}

describe('kill matrix over the run directory writes', () => {
  afterAll(() => setFailpointHook(null));

  it('records a kill point at every durable write of a straight run', async () => {
    setFailpointHook(snapshot);
    try {
      await straightFakeRun(ref);
    } finally {
      setFailpointHook(null);
    }
    // config.json, the state after every checkpoint / stage / boundary, every event and metrics row.
    expect(snapshots.length).toBeGreaterThan(60);
    const points = new Set(snapshots.map((s) => s.name.split(' ').slice(1).join(' ')));
    for (const p of ['before-rename stage-state.json', 'after-rename stage-state.json', 'after-append events.jsonl', 'after-append metrics.csv', 'before-rename config.json']) {
      expect([...points].some((x) => x.startsWith(p.split(' ')[0]!) && x.includes(p.split(' ')[1]!.split('.')[0]!)), p).toBe(true);
    }
  });

  it('every killed copy resumes to the straight run (or, killed before config.json exists, is not a run directory)', async () => {
    const outcomes = { equal: 0, notARun: 0, reusedDiagnostics: [] as string[] };
    const refEvents = normalizedEvents(ref) as Record<string, unknown>[];
    for (const s of snapshots) {
      if (!existsSync(join(s.dir, 'config.json'))) {
        // `emrl resume` says: not a run directory (no config.json / events.jsonl); the run is started again.
        expect(RunDir.isRunDir(s.dir), s.name).toBe(false);
        outcomes.notARun++;
        continue;
      }
      await resumeFakeRun(s.dir).catch((e: unknown) => {
        throw new Error(`${s.name}: ${(e as Error).message}`);
      });
      expect(metricsCsv(s.dir), s.name).toBe(metricsCsv(ref));
      const got = normalizedEvents(s.dir) as Record<string, unknown>[];
      expect(got.length, s.name).toBe(refEvents.length);
      // Known scheduler gap (lead's scheduler.ts): a boundary after a stage that keeps the policy reuses
      // the previous boundary's diagnostics from memory; a resume right before it recomputes them.
      const differing = got.map((e, i) => [e, refEvents[i]!] as const).filter(([e, r]) => JSON.stringify(e) !== JSON.stringify(r));
      if (differing.length === 0) outcomes.equal++;
      else {
        for (const [e, r] of differing) {
          expect(e['type'], s.name).toBe('diagnostics');
          expect((r['diagnostics'] as Record<string, unknown>)['reusedFrom'], s.name).toBeDefined();
          expect(e['boundary'], s.name).toBe(r['boundary']);
        }
        outcomes.reusedDiagnostics.push(s.name);
      }
    }
    console.log(
      `kill matrix: ${snapshots.length} kill points: ${outcomes.equal} resumed equal to the straight run event for event, ` +
        `${outcomes.reusedDiagnostics.length} equal except a recomputed (instead of reused) boundary diagnostics record (${outcomes.reusedDiagnostics.join('; ')}), ` +
        `${outcomes.notARun} before config.json exists (not a run directory yet)`,
    );
    expect(outcomes.equal + outcomes.notARun + outcomes.reusedDiagnostics.length).toBe(snapshots.length);
    // resume reuses the last boundary record as the straight run does (scheduler seedReusableDiagnostics)
    expect(outcomes.reusedDiagnostics).toEqual([]);
  });
});
