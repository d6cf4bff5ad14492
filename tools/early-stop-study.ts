/**
 * How often does label-free early stopping stop the EM stage near the accuracy peak?
 * (issue 5, "Against over-confidence"; one-shot EM arXiv 2505.20282 leaves over-confidence open.)
 *
 * On the embedded model: select one prompt by accuracy variance (select stage), then for each seed
 * run the EM stage for `--steps` steps WITHOUT stopping (agreement criterion with a huge patience:
 * it only records the held-out signals) with evalEvery 1, recording per step the greedy test
 * accuracy (labels used for this measurement only), heldout/agreement, heldout/entropy,
 * heldout/skewness and the EM loss. Offline, every criterion (agreement, entropy-plateau,
 * skewness-jump; default thresholds; patience 1, 2, 3) is replayed with EarlyStopper over the
 * recorded series; its stop step is compared with the accuracy peak (argmax, ties -> earliest).
 *
 *   npx tsx tools/early-stop-study.ts                                  # 5 seeds x 20 steps, lr 3e-4, the select pick
 *   npx tsx tools/early-stop-study.ts --rank 2                         # EM on the 2nd-ranked prompt instead
 *   npx tsx tools/early-stop-study.ts --seeds 2 --steps 6 --out /tmp/es.md   # quick look
 *
 * Writes the markdown report to --out and the raw series to the same path with .json
 * (default docs/EARLY-STOPPING.md + docs/early-stop-study.json). Rerunnable on any base model dir.
 */
import { Command } from 'commander';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { lastValueFrom, tap, toArray } from 'rxjs';
import { initBackend, loadPretrained } from '@emrl/lm';
import { createTask, type Policy, type StageEvent, type Task } from '@emrl/rl-grpo';
import {
  EARLY_STOP_CRITERIA,
  EarlyStopper,
  EmEarlyStopConfigSchema,
  EmStage,
  EmStageConfigSchema,
  SelectStage,
  SelectStageConfigSchema,
  emStopCriterion,
  type SelectionResult,
} from '@emrl/em-plugin';

export type Signal = (typeof EARLY_STOP_CRITERIA)[number];

/** One measurement after `step` completed EM steps (step 0 = before EM). */
export interface StudyPoint {
  step: number;
  accuracy: number;
  agreement: number;
  entropy: number;
  skewness: number;
  /** EM loss of the step that led here (absent at step 0). */
  loss?: number;
  direct?: number;
}

export interface Replay {
  signal: Signal;
  patience: number | null;
  /** Step the stopper fired at; null = never fired (the run ends at the last step). */
  stop: number | null;
  /** The criterion's best step (what restoreBest would restore); null when it never fired. */
  best: number | null;
}

/** Accuracy peak: argmax over the series, ties -> earliest step. */
export function peakStep(series: readonly StudyPoint[]): number {
  let best = series[0]!;
  for (const p of series) if (p.accuracy > best.accuracy) best = p;
  return best.step;
}

/** Replays one criterion (the EM stage's own, default thresholds) over a recorded series. */
export function replay(series: readonly StudyPoint[], signal: Signal, patience: number): Replay {
  const stopper = new EarlyStopper({ criteria: [emStopCriterion(EmEarlyStopConfigSchema.parse({ signal, patience }))] });
  for (const p of series) {
    const d = stopper.update(p.step, { 'heldout/agreement': p.agreement, 'heldout/entropy': p.entropy, 'heldout/skewness': p.skewness });
    if (d) return { signal, patience: signal === 'skewness-jump' ? null : patience, stop: d.step, best: d.bestStep };
  }
  return { signal, patience: signal === 'skewness-jump' ? null : patience, stop: null, best: null };
}

const accAt = (series: readonly StudyPoint[], step: number) => series.find((p) => p.step === step)!.accuracy;

interface SeedRun {
  seed: number;
  series: StudyPoint[];
  seconds: number;
}

async function runSeed(base: Policy, task: Task, selection: SelectionResult, seed: number, o: Options): Promise<SeedRun> {
  const policy: Policy = { ...base, model: base.model.clone() };
  const config = EmStageConfigSchema.parse({
    steps: o.steps,
    prompt: 'selected',
    rollouts: o.rollouts,
    lr: o.lr,
    evalEvery: 1,
    evalLimit: o.evalLimit,
    // Records all three held-out signals every step; a huge patience means it never stops.
    earlyStop: { signal: 'agreement', patience: 1_000_000, heldOut: o.heldOut, samples: o.samples },
  });
  const t0 = performance.now();
  const events: StageEvent[] = await lastValueFrom(
    new EmStage('em', config)
      .run({ policy, task, seed, previous: { select: { kind: 'select', result: selection } } })
      .pipe(
        tap((e) => {
          if (e.type === 'metrics') log(`  seed ${seed} step ${e.step}: acc ${e.metrics['eval_accuracy']?.toFixed(3)} loss ${e.metrics['loss']?.toFixed(4)}`);
        }),
        toArray(),
      ),
  );
  policy.model.dispose();
  const fin = events.find((e) => e.type === 'finished');
  if (!fin || fin.type !== 'finished') throw new Error('early-stop-study: the EM stage did not finish');
  const result = fin.result as {
    evaluations: { step: number; metrics: Record<string, number> }[];
    earlyStop: { history: { step: number; signals: Record<string, number> }[] };
  };
  const losses = new Map(events.flatMap((e) => (e.type === 'metrics' ? [[e.step, e.metrics['loss']!] as const] : [])));
  const series = result.earlyStop.history.map((h): StudyPoint => {
    const ev = result.evaluations.find((e) => e.step === h.step);
    if (!ev) throw new Error(`early-stop-study: no test evaluation at step ${h.step}`);
    return {
      step: h.step,
      accuracy: ev.metrics['eval_accuracy']!,
      agreement: h.signals['heldout/agreement']!,
      entropy: h.signals['heldout/entropy']!,
      skewness: h.signals['heldout/skewness']!,
      ...(losses.has(h.step) ? { loss: losses.get(h.step)! } : {}),
      ...(ev.metrics['eval_direct'] !== undefined ? { direct: ev.metrics['eval_direct'] } : {}),
    };
  });
  return { seed, series, seconds: (performance.now() - t0) / 1000 };
}

interface Options {
  model: string;
  seeds: number;
  firstSeed: number;
  steps: number;
  lr: number;
  rollouts: number;
  evalLimit: number;
  heldOut: number;
  samples: number;
  candidates: number;
  k: number;
  rank: number;
  note?: string;
  out: string;
}

const f3 = (x: number) => x.toFixed(3);
const f4 = (x: number) => x.toFixed(4);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);

/** Identifies the base model the study ran on (it may be rebuilt later). */
async function fingerprint(dir: string): Promise<string> {
  const hash = createHash('sha256').update(await readFile(resolve(dir, 'model.safetensors'))).digest('hex').slice(0, 12);
  let card = '';
  try {
    const c = JSON.parse(await readFile(resolve(dir, 'card.json'), 'utf8')) as { recipe?: { training?: { steps?: number } }; evaluation?: { byTemperature?: { temperature: number; accuracy: number }[] } };
    const t0 = c.evaluation?.byTemperature?.find((t) => t.temperature === 0);
    card = `, card: ${c.recipe?.training?.steps ?? '?'} pretraining steps, greedy test accuracy ${t0 ? t0.accuracy.toFixed(3) : '?'}`;
  } catch {
    card = ', no card.json';
  }
  return `model.safetensors sha256 ${hash}${card}`;
}

function report(o: Options, command: string, model: string, selection: SelectionResult, runs: SeedRun[], seconds: number): { md: string; replays: unknown } {
  const criteria: { signal: Signal; patience: number }[] = [];
  for (const signal of EARLY_STOP_CRITERIA) for (const patience of signal === 'skewness-jump' ? [1] : [1, 2, 3]) criteria.push({ signal, patience });
  const peaks = runs.map((r) => peakStep(r.series));
  const finals = runs.map((r) => r.series.at(-1)!.accuracy);
  const starts = runs.map((r) => r.series[0]!.accuracy);
  const peakAccs = runs.map((r, i) => accAt(r.series, peaks[i]!));
  const sel = selection.selected[0]!;
  const lines: string[] = [];
  const table = (head: string[], rows: string[][]) => {
    lines.push(`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`), '');
  };
  lines.push(
    '# Label-free early stopping of one-shot EM: does it stop near the accuracy peak?',
    '',
    'Generated by `tools/early-stop-study.ts`; rerun it after the base model changes:',
    '',
    '```sh',
    command,
    '```',
    '',
    `Base model \`${o.model}\` (${model}); EM stage: ${o.steps} steps, lr ${o.lr}, ${o.rollouts} rollouts at T = 1, tau 0.5 (stage defaults otherwise); ` +
      `held-out signals on the first ${o.heldOut} probe prompts x ${o.samples} samples (no labels); ` +
      `accuracy = greedy on the first ${o.evalLimit} test prompts, measured after every step and used ONLY here, never by EM or the stopper. ` +
      `${runs.length} seeds (${runs.map((r) => r.seed).join(', ')}), ${Math.round(seconds)} s in all.`,
    '',
    `Selected prompt: \`${sel.prompt}\` (${selection.explanation}; cost ${selection.cost.generations} generations).`,
    '',
    'The criteria are the EM stage\'s own (`earlyStop.signal`), replayed offline with `EarlyStopper` over the recorded series ' +
      '(default thresholds: agreement minDelta 0, entropy-plateau relative drop 0.01, skewness-jump |delta| 0.5; skewness-jump has no patience). ' +
      '"stop" is the step it fires at (never fired = it ran to the last step, marked `-`); "best" is the step the criterion names as best ' +
      '(what `restoreBest` restores). Peak = argmax of test accuracy over steps 0..N, ties -> earliest.',
    '',
    ...(o.note ? ['## Settings', '', o.note, ''] : []),
    '## Summary',
    '',
  );
  table(
    ['seed', 'acc step 0', 'peak step', 'peak acc', `final acc (step ${o.steps})`],
    runs.map((r, i) => [String(r.seed), f3(starts[i]!), String(peaks[i]), f3(peakAccs[i]!), f3(finals[i]!)]),
  );
  lines.push(`Mean: step 0 ${f3(mean(starts))}, peak ${f3(mean(peakAccs))}, no stopping (final) ${f3(mean(finals))}.`, '');
  const replays = criteria.map(({ signal, patience }) => {
    const rs = runs.map((r) => replay(r.series, signal, patience));
    return { signal, patience: signal === 'skewness-jump' ? null : patience, perSeed: rs };
  });
  const rows = replays.map(({ signal, patience, perSeed }) => {
    const stopSteps = perSeed.map((r) => r.stop ?? o.steps);
    const bestSteps = perSeed.map((r) => r.best ?? o.steps);
    const hits = stopSteps.filter((s, i) => Math.abs(s - peaks[i]!) <= 2).length;
    const bestHits = bestSteps.filter((s, i) => Math.abs(s - peaks[i]!) <= 2).length;
    const accStop = mean(runs.map((r, i) => accAt(r.series, stopSteps[i]!)));
    const accBest = mean(runs.map((r, i) => accAt(r.series, bestSteps[i]!)));
    return [
      signal,
      patience === null ? 'n/a' : String(patience),
      perSeed.map((r) => (r.stop === null ? '-' : String(r.stop))).join(', '),
      `${hits}/${runs.length}`,
      f3(accStop),
      perSeed.map((r) => (r.best === null ? '-' : String(r.best))).join(', '),
      `${bestHits}/${runs.length}`,
      f3(accBest),
    ];
  });
  // Label-free baselines without any signal: stop at a fixed step (is a criterion better than a fixed budget?).
  for (const k of [1, 2, 3, 5, 10].filter((x) => x <= o.steps)) {
    const hits = peaks.filter((p) => Math.abs(k - p) <= 2).length;
    const acc = f3(mean(runs.map((r) => accAt(r.series, k))));
    rows.push([`fixed step ${k} (baseline)`, 'n/a', runs.map(() => String(k)).join(', '), `${hits}/${runs.length}`, acc, '', '', '']);
  }
  const maxJump = runs.map((r) => Math.max(...r.series.slice(1).map((p, i) => Math.abs(p.skewness - r.series[i]!.skewness))));
  lines.push(
    `Peak steps per seed: ${peaks.join(', ')}. No stopping: mean accuracy ${f3(mean(finals))} at step ${o.steps}. ` +
      `Largest step-to-step |delta skewness| per seed: ${maxJump.map(f4).join(', ')} (the skewness-jump threshold is 0.5).`,
    '',
  );
  table(['criterion', 'patience', 'stop step per seed', '\\|stop - peak\\| <= 2', 'mean acc at stop', 'best step per seed', '\\|best - peak\\| <= 2', 'mean acc at best'], rows);
  lines.push('## Per-seed curves', '', 'acc = greedy test accuracy; agree / entropy / skew = held-out signals; loss = the EM loss of the step that led there; direct = share of greedy answers that skip the reasoning.', '');
  for (const r of runs) {
    lines.push(`### seed ${r.seed} (${Math.round(r.seconds)} s)`, '');
    table(
      ['step', 'acc', 'agree', 'entropy', 'skew', 'loss', 'direct'],
      r.series.map((p) => [
        String(p.step),
        f3(p.accuracy) + (p.step === peakStep(r.series) ? ' *' : ''),
        f3(p.agreement),
        f4(p.entropy),
        f4(p.skewness),
        p.loss === undefined ? '' : f4(p.loss),
        p.direct === undefined ? '' : f3(p.direct),
      ]),
    );
  }
  return { md: lines.join('\n'), replays };
}

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

async function main(): Promise<void> {
  const program = new Command()
    .name('early-stop-study')
    .description('Replay label-free EM early-stopping criteria against the test-accuracy peak on the embedded model.')
    .option('--model <dir>', 'base model directory', 'models/modchain-byte')
    .option('--seeds <n>', 'number of EM seeds', (v) => parseInt(v, 10), 5)
    .option('--first-seed <n>', 'first seed', (v) => parseInt(v, 10), 1)
    .option('--steps <n>', 'EM steps per seed (run without stopping)', (v) => parseInt(v, 10), 20)
    .option('--lr <x>', 'EM learning rate', parseFloat, 3e-4)
    .option('--rollouts <n>', 'EM rollouts per step', (v) => parseInt(v, 10), 8)
    .option('--eval-limit <n>', 'test prompts for the greedy accuracy', (v) => parseInt(v, 10), 200)
    .option('--held-out <n>', 'held-out probe prompts for the signals', (v) => parseInt(v, 10), 8)
    .option('--samples <n>', 'samples per held-out prompt', (v) => parseInt(v, 10), 4)
    .option('--candidates <n>', 'select stage: candidate prompts', (v) => parseInt(v, 10), 64)
    .option('--k <n>', 'select stage: samples per candidate', (v) => parseInt(v, 10), 16)
    .option('--rank <n>', "EM on the select stage's n-th ranked prompt (1 = its pick)", (v) => parseInt(v, 10), 1)
    .option('--note <text>', 'why these settings (goes into the report under "Settings")')
    .option('--out <file>', 'markdown report (the JSON goes next to it)', 'docs/EARLY-STOPPING.md')
    .parse();
  const o = program.opts<Options>();
  const t0 = performance.now();
  const backend = await initBackend();
  log(`backend ${backend.name}`);
  const { model, tokenizer } = await loadPretrained(resolve(o.model));
  const base: Policy = { model, tokenizer, name: o.model };
  const task = createTask({ type: 'modchain' });
  const selectConfig = SelectStageConfigSchema.parse({ candidates: o.candidates, samplesPerPrompt: o.k });
  const selFin = (await lastValueFrom(new SelectStage('select', selectConfig).run({ policy: base, task, seed: 0 }).pipe(toArray()))).find((e) => e.type === 'finished');
  if (!selFin || selFin.type !== 'finished') throw new Error('early-stop-study: the select stage did not finish');
  const ranked = selFin.result as SelectionResult;
  const pick = ranked.ranking[o.rank - 1];
  if (!pick) throw new Error(`early-stop-study: --rank ${o.rank} but the select stage ranked only ${ranked.ranking.length} prompts; lower --rank`);
  const selection: SelectionResult =
    o.rank === 1 ? ranked : { ...ranked, selected: [pick], explanation: `rank ${o.rank} of the selection (--rank): "${pick.id}", p = ${pick.p.toFixed(3)}, variance ${pick.variance.toFixed(4)}; the select stage's own pick: ${ranked.explanation}` };
  log(selection.explanation);
  const runs: SeedRun[] = [];
  for (let s = 0; s < o.seeds; s++) runs.push(await runSeed(base, task, selection, o.firstSeed + s, o));
  model.dispose();
  const seconds = (performance.now() - t0) / 1000;
  const quote = (a: string) => (/^[\w./=:+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  const command = `npx tsx tools/early-stop-study.ts ${process.argv.slice(2).map(quote).join(' ')}`.trim();
  const modelId = await fingerprint(o.model);
  const { md, replays } = report(o, command, modelId, selection, runs, seconds);
  const out = resolve(o.out);
  const jsonPath = out.endsWith('EARLY-STOPPING.md') ? resolve(dirname(out), 'early-stop-study.json') : out.replace(/\.md$/, '') + '.json';
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, md + `\nRaw series: \`${jsonPath.split('/').pop()}\` next to this file.\n`);
  const selected = selection.selected[0]!;
  const json = {
    command,
    backend: backend.name,
    model: modelId,
    options: o,
    selection: {
      id: selected.id,
      prompt: selected.prompt,
      p: selected.p,
      variance: selected.variance,
      explanation: selection.explanation,
      cost: selection.cost,
      top: selection.ranking.slice(0, 10).map((x) => ({ rank: x.rank, id: x.id, prompt: x.prompt, p: x.p, variance: x.variance, meanLength: x.meanLength })),
    },
    runs,
    peaks: runs.map((r) => peakStep(r.series)),
    replays,
    seconds,
  };
  await writeFile(jsonPath, JSON.stringify(json, null, 2) + '\n');
  log(`wrote ${out} and ${jsonPath}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
