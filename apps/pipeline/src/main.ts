// Entry of the `emrl` command (bin/emrl.mjs, `npm run emrl -- ...`, `npm start`).
import { fileURLToPath } from 'node:url';
import { runCli } from './cli';
import { stopWhenParentDies } from './parent-watch';
import { wireRuntime } from './wiring';

stopWhenParentDies();

const code = await runCli(process.argv, {
  runtime: wireRuntime,
  sweepWorker: fileURLToPath(new URL('./sweep/worker.ts', import.meta.url)),
});
process.exit(code);
