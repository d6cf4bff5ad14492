import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { withoutAddedProcessHandlers } from './backend';

describe('withoutAddedProcessHandlers', () => {
  it('removes the uncaughtException / unhandledRejection listeners added during init, keeps earlier ones', async () => {
    const mine = (): void => {};
    process.on('uncaughtException', mine);
    const added = (): void => {};
    try {
      const r = await withoutAddedProcessHandlers(async () => {
        process.on('uncaughtException', added);
        process.on('unhandledRejection', added);
        return 42;
      });
      expect(r).toBe(42);
      expect(process.listeners('uncaughtException')).toContain(mine);
      expect(process.listeners('uncaughtException')).not.toContain(added);
      expect(process.listeners('unhandledRejection')).not.toContain(added);
    } finally {
      process.off('uncaughtException', mine);
    }
  });

  it('an uncaught error after initBackend (wasm) prints its message and stack, not the emscripten glue', () => {
    const dir = mkdtempSync(join(tmpdir(), 'emrl-uncaught-'));
    const script = join(dir, 'throw-after-init.mts');
    const backend = fileURLToPath(new URL('./backend.ts', import.meta.url));
    writeFileSync(script, `import { initBackend } from ${JSON.stringify(backend)};\nawait initBackend({ prefer: 'wasm' });\nthrow new Error('boom after initBackend');\n`);
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 120_000, cwd: fileURLToPath(new URL('../../..', import.meta.url)) });
    expect(r.stderr).toContain('Error: boom after initBackend');
    expect(r.stderr).toContain(`${script}:3`); // the stack of the error itself
    expect(r.stderr).not.toContain('WasmBackendModule');
    expect(r.stderr.length).toBeLessThan(2000); // was ~39 KB: the minified glue line
    expect(r.status).toBe(1); // Node's default for an uncaught error (the glue's rethrow exited 7)
  });
});
