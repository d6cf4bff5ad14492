/**
 * Builds one library to publishable ESM: `libs/<lib>/dist/` with `.js`, `.d.ts` and source maps,
 * Node-resolvable relative imports, and a check that every `exports` target of its package.json
 * exists. Nx runs it as each lib's `build` target (after the libs it depends on: `^build`).
 *
 *   npx tsx tools/build-lib/build-lib.ts libs/lm        # one lib
 *   npm run build                                       # all three, in dependency order (nx)
 */
import { spawnSync } from 'node:child_process';
import { readdir, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '@emrl/lm';
import { addJsExtensions } from './esm-specifiers';
import { exportedTargets } from './package-exports';

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

function runTsc(libDir: string): void {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const config = join(libDir, 'tsconfig.lib.json');
  if (!existsSync(config)) throw new Error(`${config} not found: each lib's build config (rootDir src, outDir dist, declaration) lives there`);
  const r = spawnSync(process.execPath, [tsc, '-p', config], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`tsc -p ${config} failed (exit ${r.status ?? r.signal}); its errors are above`);
}

/** tsc resolves the other @emrl libs through their built .d.ts (the exports' `types`), so they build first. */
function checkDependenciesBuilt(libDir: string, pkg: { dependencies?: Record<string, string> }, pkgFile: string): void {
  for (const dep of Object.keys(pkg.dependencies ?? {}).filter((d) => d.startsWith('@emrl/'))) {
    const types = join(libDir, 'node_modules', dep, 'dist/index.d.ts');
    const hoisted = join(libDir, '../../node_modules', dep, 'dist/index.d.ts');
    if (!existsSync(types) && !existsSync(hoisted)) {
      throw new Error(`${pkgFile}: depends on ${dep}, which is not built (${hoisted} missing); run \`npm run build\` (nx builds the libs in dependency order)`);
    }
  }
}

/** Clean, compile, fix the ESM specifiers and check the exports of the lib in `libDir`. */
export async function buildLib(libDir: string): Promise<{ files: number; rewritten: number }> {
  const dir = resolve(libDir);
  const pkgFile = join(dir, 'package.json');
  const pkg = JSON.parse(await readFile(pkgFile, 'utf8')) as { exports?: unknown; dependencies?: Record<string, string> };
  checkDependenciesBuilt(dir, pkg, pkgFile);
  const dist = join(dir, 'dist');
  await rm(dist, { recursive: true, force: true });
  runTsc(dir);
  const files = (await listFiles(dist)).filter((f) => f.endsWith('.js') || f.endsWith('.d.ts'));
  let rewritten = 0;
  for (const f of files) {
    const code = await readFile(f, 'utf8');
    const fixed = addJsExtensions(code, f);
    if (fixed !== code) {
      await writeFileAtomic(f, fixed);
      rewritten++;
    }
  }
  const missing = exportedTargets(pkg, pkgFile).filter((t) => !existsSync(join(dir, t)));
  if (missing.length > 0) {
    throw new Error(`${pkgFile}: exports point at ${missing.join(', ')}, which the build did not produce; fix "exports" or tsconfig.lib.json (rootDir src, outDir dist)`);
  }
  return { files: files.length, rewritten };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const libDir = process.argv[2];
  if (!libDir) {
    console.error('usage: tsx tools/build-lib/build-lib.ts <lib directory, e.g. libs/lm>');
    process.exit(2);
  }
  try {
    const { files, rewritten } = await buildLib(libDir);
    console.log(`${libDir}: built dist/ (${files} .js/.d.ts files, ${rewritten} with import specifiers rewritten for Node ESM)`);
  } catch (e) {
    console.error((e as Error).message);
    process.exit(1);
  }
}
