/**
 * real-vocab-diagnostics: peak wasm heap of one boundary logit-statistics probe at Qwen2's
 * 151,936-token vocabulary (issue #11, outside the trainer). A small random Qwen2-family model
 * (tied embedding) is probed on fixed random responses, once on the plain path (whole [B, T, V]
 * logits: what every probe did before) and once chunked (rl-grpo's probeLogitStatistics with the
 * default 32 MiB logits budget: hidden states, then the head on a few positions at a time), each
 * in its own process so a wasm out-of-memory abort of one does not end the other.
 *
 * Usage: npx tsx --import ./tools/bench/register-hooks.ts tools/real-vocab-diagnostics.ts
 *          [--path both|plain|chunked] [--probes 16] [--response 64] [--layers 2] [--width 64] [--budget-mib 32]
 * Prints one JSON line per path: ok or the error, CPU seconds, the wasm heap after the run (it
 * only grows, so it is the peak), peak RSS, and the headline figures (equal on both paths).
 */
import { fileURLToPath } from 'node:url';
import { ByteTokenizer, initBackend, seededRandom } from '@emrl/lm';
import { probeLogitStatistics, type Task, type TaskExample } from '@emrl/rl-grpo';
import { memoryFigures, randomQwen2, runPathsInChildren, VOCAB } from './real-vocab-common';

interface Args {
  path: 'both' | 'plain' | 'chunked';
  probes: number;
  response: number;
  layers: number;
  width: number;
  budgetMib: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { path: 'both', probes: 16, response: 64, layers: 2, width: 64, budgetMib: 32 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i]!.replace(/^--/, '').replace(/-(\w)/g, (_, c: string) => c.toUpperCase()) as keyof Args;
    const value = argv[i + 1];
    if (!(key in a) || value === undefined) throw new Error(`tools/real-vocab-diagnostics.ts: unknown or valueless option ${argv[i]}; see the usage header`);
    if (key === 'path') {
      if (value !== 'both' && value !== 'plain' && value !== 'chunked') throw new Error(`tools/real-vocab-diagnostics.ts: --path must be both, plain or chunked, got ${value}`);
      a.path = value;
    } else {
      const n = Number(value);
      if (!(n > 0)) throw new Error(`tools/real-vocab-diagnostics.ts: ${argv[i]} must be a positive number, got ${value}`);
      (a as unknown as Record<string, number>)[key] = n;
    }
  }
  return a;
}

async function runOne(a: Args, path: 'plain' | 'chunked'): Promise<Record<string, unknown>> {
  const backend = await initBackend({ prefer: 'wasm' });
  const model = randomQwen2(a.layers, a.width, 'real-vocab-diagnostics');
  const tokenizer = new ByteTokenizer();
  const examples: TaskExample[] = Array.from({ length: a.probes }, (_, i) => ({ id: String(i), prompt: `probe ${i}: 3+4*${i}=`, answer: '0' }));
  const task: Task = {
    name: 'random-probe',
    split: () => examples,
    verify: () => ({ correct: false, extracted: null, formatOk: false }),
    extractAnswer: () => null,
    stopSequences: [],
    maxCompletionLength: a.response,
  };
  const r = seededRandom(151936);
  const responses = examples.map(() => Array.from({ length: a.response }, () => 3 + Math.floor(r() * (VOCAB - 3))));
  const T = Math.max(...examples.map((e) => tokenizer.encode(e.prompt).length)) + a.response;
  const out: Record<string, unknown> = {
    path,
    backend: backend.name,
    shape: `B=${a.probes} T=${T} V=${VOCAB} (layers ${a.layers}, width ${a.width}, ${model.numParameters()} params)`,
    wholeLogitsMiB: Math.round((a.probes * T * VOCAB * 4) / 2 ** 20),
    heapBeforeMiB: memoryFigures().wasmHeapMiB,
  };
  try {
    const c0 = process.cpuUsage();
    // Infinity: whole logits, the plain path every probe took before; else --budget-mib (default 32, the library default).
    const p = await probeLogitStatistics({ model, tokenizer, name: 'random' }, task, { examples, responses, logitsBudgetBytes: path === 'plain' ? Infinity : a.budgetMib * 2 ** 20 });
    const c = process.cpuUsage(c0);
    out['ok'] = true;
    out['logitsPath'] = p.logitsPath;
    out['budgetMiB'] = path === 'plain' ? null : a.budgetMib;
    out['cpuS'] = (c.user + c.system) / 1e6;
    const f = p.stats.figures;
    out['figures'] = { entropy: f['entropy/per_position_mean'], skewPooledRaw: f['skewness/pooled/full_vocab/raw_logits'], maxProb: f['max_prob/mean'], positions: p.stats.meta.positions };
  } catch (e) {
    out['ok'] = false;
    out['error'] = String((e as Error).message ?? e).slice(0, 300);
  }
  Object.assign(out, memoryFigures());
  model.dispose();
  return out;
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  if (a.path !== 'both') {
    console.log(JSON.stringify(await runOne(a, a.path)));
    return;
  }
  runPathsInChildren(fileURLToPath(import.meta.url), ['chunked', 'plain']);
}

await main();
