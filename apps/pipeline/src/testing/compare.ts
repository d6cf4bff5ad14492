// Test-only: the part of a run directory that must match between a straight and a resumed run.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LIFECYCLE_EVENT_TYPES } from '../pipeline-events';
import { RunDir } from '../run-dir';

const VOLATILE = new Set(['time', 'wallMs', 'totalWallMs', 'tokensPerSec', 'etaSec', 'path']);

export function normalizedEvents(dir: string): unknown[] {
  return RunDir.open(dir)
    .readEvents()
    .filter((e) => !(LIFECYCLE_EVENT_TYPES as readonly string[]).includes(String(e['type'])))
    .map((e) => JSON.parse(JSON.stringify(e, (k, v: unknown) => (VOLATILE.has(k) ? undefined : v))) as unknown);
}

export function metricsCsv(dir: string): string {
  return readFileSync(join(dir, 'metrics.csv'), 'utf8');
}
