/**
 * What a researcher outside the monorepo does with the libraries: pack them (`npm pack`), install
 * the tarballs into a fresh project, compile TypeScript against the shipped .d.ts (NodeNext, as a
 * Node ESM project would) and run the result with plain `node`. Used by packages.test.ts.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import ts from 'typescript';

export const LIBS = ['lm', 'rl-grpo', 'em-plugin'] as const;

/** The environment without npm's per-script variables (`npm test` sets npm_config_local_prefix etc.), keeping the cache and registry. */
export function cleanNpmEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('npm_') && k !== 'npm_config_cache' && k !== 'npm_config_registry') continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

function check(r: SpawnSyncReturns<string>, what: string): string {
  if (r.error) throw new Error(`${what}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${what} exited ${r.status ?? r.signal}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** `npm pack` each built lib into `dest`; returns the tarball paths. */
export function packLibs(repoRoot: string, dest: string): string[] {
  mkdirSync(dest, { recursive: true });
  return LIBS.map((lib) => {
    const out = check(spawnSync('npm', ['pack', join(repoRoot, 'libs', lib), '--pack-destination', dest, '--json'], { cwd: dest, encoding: 'utf8', env: cleanNpmEnv() }), `npm pack libs/${lib}`);
    const [info] = JSON.parse(out) as { filename: string; files: { path: string }[] }[];
    if (!info) throw new Error(`npm pack libs/${lib}: no output`);
    return join(dest, basename(info.filename));
  });
}

/** The file list of a tarball (paths inside `package/`). */
export function tarballFiles(tarball: string): string[] {
  const out = check(spawnSync('tar', ['tzf', tarball], { encoding: 'utf8' }), `tar tzf ${tarball}`);
  return out.split('\n').filter(Boolean).map((p) => p.replace(/^package\//, ''));
}

/**
 * A fresh project in `dir` with its own package.json, the tarballs and `packages` installed by npm
 * (third-party dependencies from npm's cache, the registry for anything missing) and `sources` copied in.
 */
export function createConsumerProject(dir: string, tarballs: string[], sources: string[], packages: string[] = []): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'emrl-consumer', private: true, type: 'module' }, null, 2));
  for (const s of sources) copyFileSync(s, join(dir, basename(s)));
  const args = ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=error', ...tarballs, ...packages];
  check(spawnSync('npm', args, { cwd: dir, encoding: 'utf8', env: cleanNpmEnv() }), `npm install (in ${dir})`);
}

/**
 * Typecheck and compile the project's .ts files as a Node ESM project (module NodeNext) against
 * the installed packages. The packages' own .d.ts files are checked too (as skipLibCheck: false
 * would), but not third-party declarations (tfjs-core 4.22's hash_util.d.ts wants @types/long,
 * which tfjs does not install; @types/node is slow to check). `typeRoots` points at the repo's
 * @types (node) so the project need not install them. Returns the diagnostics as text.
 */
export function compileConsumer(dir: string, files: string[], typeRoots: string): string[] {
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    skipLibCheck: false,
    outDir: join(dir, 'out'),
    rootDir: dir,
    typeRoots: [typeRoots],
    types: ['node'],
  };
  const roots = files.map((f) => join(dir, basename(f)));
  const program = ts.createProgram(roots, options);
  const ours = (f: ts.SourceFile) => !f.fileName.includes('/node_modules/') || f.fileName.includes('/node_modules/@emrl/');
  const checked = program.getSourceFiles().filter(ours);
  if (!checked.some((f) => f.fileName.endsWith('/node_modules/@emrl/em-plugin/dist/index.d.ts'))) {
    throw new Error(`${dir}: the program did not load @emrl/em-plugin's dist/index.d.ts; is the package installed?`);
  }
  const diagnostics = [
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
    ...checked.flatMap((f) => [...program.getSyntacticDiagnostics(f), ...program.getSemanticDiagnostics(f)]),
    // One emit per root file: emitting the whole program would also check every third-party .d.ts.
    ...roots.flatMap((r) => program.emit(program.getSourceFile(r)).diagnostics),
  ];
  return diagnostics.map((d) => ts.formatDiagnostic(d, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => dir, getNewLine: () => '\n' }));
}

/** Run `node <script> <args>` in `dir`; returns the JSON object the script prints on its last line. */
export function runNode(dir: string, script: string, args: string[], env: Record<string, string> = {}, nodeArgs: string[] = []): unknown {
  const r = spawnSync(process.execPath, [...nodeArgs, script, ...args], { cwd: dir, encoding: 'utf8', env: cleanNpmEnv(env) });
  const out = check(r, `node ${script}`);
  const last = out.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(last);
  } catch {
    throw new Error(`node ${script}: expected a JSON line last, got:\n${out}\n${r.stderr}`);
  }
}
