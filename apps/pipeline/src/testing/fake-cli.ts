// Test-only `emrl` with fake stages: spawned by tests to exercise signals, kill -9 and sweeps.
import { fileURLToPath } from 'node:url';
import { runCli } from '../cli';
import { createFakeRuntime } from './fake-runtime';

const runtime = createFakeRuntime();
const code = await runCli(process.argv, { runtime: () => runtime, sweepWorker: fileURLToPath(new URL('./fake-sweep-worker.ts', import.meta.url)) });
process.exit(code);
