#!/usr/bin/env node
// Runs the TypeScript CLI through tsx (no build step): node --import tsx src/main.ts <args>.
// Signals reach the child through the process group (Ctrl-C) or are forwarded here; the exit
// code is the child's (130 after an interrupt).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const tsx = import.meta.resolve('tsx');
const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
// The IPC channel lets the child notice if this wrapper dies (even by kill -9) and stop cleanly.
// --conditions: @emrl/<lib> resolves to the libs' TypeScript sources (their package.json
// "@emrl/source" export), not to dist/, whatever the working directory (tsx reads tsconfig paths from it).
const child = spawn(process.execPath, ['--conditions=@emrl/source', '--import', tsx, main, ...process.argv.slice(2)], { stdio: ['inherit', 'inherit', 'inherit', 'ipc'] });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal === 'SIGINT' ? 130 : 1)));
