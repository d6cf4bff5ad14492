import type { Command } from 'commander';
import { parsePipelineConfig, readPipelineFile } from '../config/load-config';
import { applyOverride, parseSetFlag } from '../config/overrides';
import type { PipelineConfig } from '../config/pipeline-schema';
import { presetPath } from '../config/presets';
import { inheritStageTokenLimit, shortcutOverrides } from '../cli-shortcuts';
import { executeRun } from '../execute';
import { formatDiagnosticsLine } from '../progress';
import { startRun } from '../runner';
import { formatPlan } from '../console/plan';
import { EXIT, loadPipeline, modelTask, outcomeCode, runLike, type CommandContext, type SingleOpts } from './context';

/** A one-stage pipeline built from a config's model/task/seed (eval, select). */
function singleStage(program: Command, ctx: CommandContext, kind: string, help: string, example: string): void {
  modelTask(runLike(program.command(`${kind} [config]`)))
    .description(help)
    .addHelpText('after', `\nThe model, task, seed and backend come from the config (or preset, default em-warmstart); its ${kind} stage options are used when present. --model and --task replace the config's model and task.\n\nExamples:\n  ${example}`)
    .action(
      ctx.guard(async (file: string | undefined, opts: SingleOpts) => {
        const runtime = ctx.cli.runtime();
        const data = readPipelineFile(file ?? presetPath(opts.preset ?? 'em-warmstart')) as Record<string, unknown>;
        const stages = Array.isArray(data['stages']) ? (data['stages'] as Record<string, unknown>[]) : [];
        const own = stages.find((s) => s && typeof s === 'object' && kind in s) ?? { [kind]: {} };
        let d: Record<string, unknown> = { ...data, name: `${String(data['name'] ?? kind)}-${kind}`, stages: [own] };
        for (const { path, value } of shortcutOverrides(opts, kind)) d = applyOverride(d, path, value).data;
        for (const flag of opts.set) {
          const { path, value } = parseSetFlag(flag);
          d = applyOverride(d, path, value).data;
        }
        d = inheritStageTokenLimit(d, kind);
        const config = parsePipelineConfig(d, file ?? `preset ${opts.preset ?? 'em-warmstart'}`, runtime.registry);
        if (opts.dryRun) return (ctx.out(formatPlan(config)), EXIT.ok);
        return ctx.execute(await startRun({ config, runtime, root: opts.runs, ...(opts.out ? { dir: opts.out } : {}) }), opts);
      }),
    );
}

/** `emrl diagnose`: boundary diagnostics of the config's model alone, printed and saved. */
function registerDiagnose(program: Command, ctx: CommandContext): void {
  modelTask(runLike(program.command('diagnose [config]')))
    .description("logit statistics, accuracy by temperature and calibration of the config's model on the probe set; printed and saved")
    .addHelpText(
      'after',
      '\nExamples:\n  emrl diagnose pipeline.yaml\n  emrl diagnose --preset grpo-only --set diagnostics.temperatures=[0,0.5,1]\n  emrl diagnose --model path/to/hf-model --task problems.jsonl --set diagnostics.maxNewTokens=64\n  emrl diagnose --model runs/my-run/checkpoints/em/step-000010 --task modchain',
    )
    .action(
      ctx.guard(async (file: string | undefined, opts: SingleOpts) => {
        const runtime = ctx.cli.runtime();
        const base = loadPipeline(file ?? presetPath(opts.preset ?? 'em-warmstart'), { set: opts.set, command: 'diagnose', withoutStages: true, ...(opts.threads !== undefined ? { threads: opts.threads } : {}), ...(opts.model !== undefined ? { model: opts.model } : {}), ...(opts.task !== undefined ? { task: opts.task } : {}) }, runtime);
        const config: PipelineConfig = { ...base, name: `${base.name}-diagnose`, stages: [], diagnostics: { ...base.diagnostics, enabled: true } };
        if (opts.dryRun) return (ctx.out(formatPlan(config)), EXIT.ok);
        const prepared = await startRun({ config, runtime, root: opts.runs, ...(opts.out ? { dir: opts.out } : {}) });
        const outcome = await executeRun(prepared.events, (e) => {
          if (e.type === 'diagnostics') {
            ctx.out(formatDiagnosticsLine(e));
            ctx.out(JSON.stringify(e.diagnostics, null, 2));
          }
        });
        ctx.err(`saved in ${prepared.runDir.dir}`);
        return outcomeCode(outcome, ctx.err, prepared.runDir.dir);
      }),
    );
}

/** `emrl eval`, `emrl select` and `emrl diagnose`: one job on a config's (or --model's) model. */
export function registerSingleStageCommands(program: Command, ctx: CommandContext): void {
  singleStage(
    program,
    ctx,
    'eval',
    'evaluate a model: accuracy by temperature, pass@k, calibration',
    [
      'emrl eval pipeline.yaml --set eval.temperatures=[0,0.6,1]',
      'emrl eval --model embedded --task modchain --set eval.limit=50',
      'emrl eval --model path/to/hf-model --task problems.jsonl --set eval.maxNewTokens=64',
      'emrl eval --model runs/my-run/checkpoints/grpo/step-000030 --task modchain',
    ].join('\n  '),
  );
  singleStage(
    program,
    ctx,
    'select',
    'one-shot prompt selection alone (variance of correctness over candidate prompts)',
    ['emrl select --preset em-warmstart --set select.candidates=64', 'emrl select --model embedded:modchain-byte --task word-problems --set select.candidates=16'].join('\n  '),
  );
  registerDiagnose(program, ctx);
}
