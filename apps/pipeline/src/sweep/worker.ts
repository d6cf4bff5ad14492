// Sweep worker entry (forked by run-sweep.ts with --import tsx): the CLI's runtime wiring.
import { wireRuntime } from '../wiring';
import { runSweepWorker } from './worker-main';

runSweepWorker(wireRuntime());
