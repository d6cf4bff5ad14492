// Entry of the `emrl` command (bin/emrl.mjs, `npm run emrl -- ...`, `npm start`).
import { fileURLToPath } from 'node:url';
import { runCli } from './cli';
import { wireRuntime } from './wiring';

const code = await runCli(process.argv, {
  runtime: wireRuntime,
  sweepWorker: fileURLToPath(new URL('./sweep/worker.ts', import.meta.url)),
});
process.exit(code);
