// Test-only sweep worker entry using the fake runtime.
import { runSweepWorker } from '../sweep/worker-main';
import { createFakeRuntime } from './fake-runtime';

runSweepWorker(createFakeRuntime());
