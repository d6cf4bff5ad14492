import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanNpmEnv, compileConsumer, createConsumerProject, LIBS, packLibs, runNode, tarballFiles } from './consumer-project';

// Issue #13, "Libraries as packages": build the three libs (`npm run build`, Nx), pack them, install
// the tarballs into a fresh project outside the repo and run the READMEs' examples there with plain
// node. Each example also runs from the TypeScript sources (tsx) and must print the same numbers.
const REPO = resolve(__dirname, '../..');
const MODEL = join(REPO, 'models/modchain-byte');
const CONSUMER = ['grpo-entropy-bonus.ts', 'three-placements.ts', 'data-parallel.ts'].map((f) => join(__dirname, 'consumer', f));
const ROOT_PACKAGE = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
// wasm must start from the installed tfjs-backend-wasm (its .wasm files). The packed @emrl/lm ships
// no native GEMM (libs/lm/native is built by the monorepo's npm install only), so the sources run
// without it too: both sides on emrl's wasm kernels, whose numbers must agree exactly.
const ENV = { EMRL_BACKEND: 'wasm', EMRL_NATIVE_GEMM: '0' };

let work = '';
let project = '';
let tarballs: string[] = [];

/** The consumer script run from the monorepo's sources (tsx resolves @emrl/* through tsconfig paths). */
function runFromSources(name: string): unknown {
  return runNode(REPO, join(__dirname, 'consumer', `${name}.ts`), [MODEL], ENV, ['--conditions=@emrl/source', '--import', 'tsx']);
}

beforeAll(() => {
  const build = spawnSync('npm', ['run', 'build', '--silent'], { cwd: REPO, encoding: 'utf8', env: cleanNpmEnv() });
  if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stdout}\n${build.stderr}`);
  work = mkdtempSync(join(tmpdir(), 'emrl-packages-'));
  tarballs = packLibs(REPO, join(work, 'tarballs'));
  project = join(work, 'project');
  // As the README says: the tarballs, plus rxjs, which the examples import themselves.
  createConsumerProject(project, tarballs, CONSUMER, [`rxjs@${ROOT_PACKAGE.dependencies['rxjs']}`]);
}, 600_000);

// The project's node_modules hold ~330 MB (@tensorflow/tfjs and its backends): removing it can take a while on a busy disk.
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
}, 120_000);

describe('@emrl/lm, @emrl/rl-grpo, @emrl/em-plugin as npm packages', () => {
  it('pack dist/ (JS, .d.ts, the worker entry), README and package.json; no sources, tests or testing entry', () => {
    expect(tarballs.map((t) => t.split('/').at(-1))).toEqual(LIBS.map((l) => `emrl-${l}-0.1.0.tgz`));
    for (const t of tarballs) {
      const files = tarballFiles(t);
      expect(files).toEqual(expect.arrayContaining(['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts']));
      expect(files.filter((f) => f.startsWith('src/') || /\.test\.|testing/.test(f))).toEqual([]);
    }
    expect(tarballFiles(tarballs[0]!)).toContain('dist/train/data-parallel/worker-entry.js');
    // The ./testing entry is for the monorepo's tests only: a consumer gets Node's own error.
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', "await import('@emrl/lm/testing')"], { cwd: project, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/ERR_PACKAGE_PATH_NOT_EXPORTED/);
  });

  it('typecheck and compile a Node ESM (NodeNext) project against the shipped .d.ts', () => {
    expect(compileConsumer(project, CONSUMER, join(REPO, 'node_modules/@types'))).toEqual([]);
  }, 120_000);

  it('run the rl-grpo README example (GRPO + entropy bonus, 2 steps) with plain node on wasm, as from the sources', () => {
    const out = runNode(project, 'out/grpo-entropy-bonus.js', [MODEL], ENV) as {
      backend: string;
      finished: string;
      steps: { step: number; reward: number; entropy: number; coef: number }[];
    };
    expect(out.backend).toBe('wasm');
    expect(out.finished).toBe('finished');
    expect(out.steps.map((s) => [s.step, s.coef])).toEqual([[1, 0.001], [2, 0.001]]);
    for (const s of out.steps) {
      expect(s.reward).toBeGreaterThanOrEqual(0);
      expect(s.reward).toBeLessThanOrEqual(1);
      expect(s.entropy).toBeGreaterThan(0);
    }
    expect(out).toEqual(runFromSources('grpo-entropy-bonus'));
  }, 120_000);

  it('run the em-plugin README example (one objective, three placements) with plain node, as from the sources', () => {
    const out = runNode(project, 'out/three-placements.js', [MODEL], ENV) as {
      results: Record<string, { loss: number; entropy: number }[]>;
      temperature: number;
    };
    expect(Object.keys(out.results)).toEqual(['warmStart', 'regularized', 'compression']);
    for (const steps of Object.values(out.results)) {
      expect(steps).toHaveLength(2);
      for (const s of steps) expect(Number.isFinite(s.loss) && s.entropy > 0).toBe(true);
    }
    // EM alone: the loss is the entropy term (coef 1); compression trained the adapter's temperature.
    expect(out.results['warmStart']![0]!.loss).toBeCloseTo(out.results['warmStart']![0]!.entropy, 6);
    expect(out.temperature).not.toBe(1);
    expect(out).toEqual(runFromSources('three-placements'));
  }, 120_000);

  it('train data-parallel from the package: the worker thread starts from dist/ and matches one thread', () => {
    const out = runNode(project, 'out/data-parallel.js', [MODEL], ENV) as { single: number[]; twoWorkers: number[] };
    expect(out.single).toHaveLength(2);
    out.twoWorkers.forEach((l, i) => expect(l).toBeCloseTo(out.single[i]!, 4));
    expect(out.single[1]!).not.toBe(out.single[0]!);
  }, 120_000);
});
