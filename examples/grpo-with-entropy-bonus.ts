/**
 * GRPO on the embedded base model with an entropy-bonus plugin, watching the events stream and
 * evaluating before and after. Run: npx tsx examples/grpo-with-entropy-bonus.ts
 */
import { initBackend, loadPretrained } from '@emrl/lm';
import {
  createRegistry,
  createTask,
  evaluate,
  grpoConfigSchema,
  GrpoStage,
  type Policy,
  type StageEvent,
} from '@emrl/rl-grpo';
import { lastValueFrom, tap } from 'rxjs';
import { fileURLToPath } from 'node:url';

export async function runExample(opts: { steps?: number; modelDir?: string; log?: (line: string) => void } = {}) {
  const log = opts.log ?? console.log;
  await initBackend();
  const modelDir = opts.modelDir ?? fileURLToPath(new URL('../models/modchain-byte', import.meta.url));
  const { model, tokenizer } = await loadPretrained(modelDir);
  const policy: Policy = { model, tokenizer, name: 'modchain-byte' };
  const task = createTask({ type: 'modchain' });

  const evalConfig = { temperatures: [0, 1], samples: 4, split: 'test' as const, limit: 64 };
  const before = await evaluate(policy, task, evalConfig, { seed: 1 });

  // The plugins and rewards a pipeline may name (add em-plugin's with registerEmPlugins(registry)).
  const registry = createRegistry();
  const config = grpoConfigSchema(registry).parse({
    steps: opts.steps ?? 10,
    promptsPerStep: 8,
    groupSize: 8,
    lr: 1e-4,
    beta: 0.04,
    plugins: [{ 'entropy-bonus': { coef: 0.001 } }],
  });
  const stage = new GrpoStage('grpo', config, registry);
  const events: StageEvent[] = [];
  const finished = await lastValueFrom(
    stage.run({ policy, task, seed: 1 }).pipe(
      tap((e) => {
        events.push(e);
        if (e.type === 'metrics') {
          const m = e.metrics;
          log(`step ${e.step}: reward ${m['reward']?.toFixed(3)} entropy ${m['entropy']?.toFixed(3)} bonus coef ${m['entropy-bonus/coef']}`);
        }
      }),
    ),
  );
  if (finished.type !== 'finished') throw new Error('the stage did not finish');

  const after = await evaluate(finished.policy, task, evalConfig, { seed: 1 });
  for (let i = 0; i < before.byTemperature.length; i++) {
    const b = before.byTemperature[i]!;
    const a = after.byTemperature[i]!;
    log(`T=${b.temperature}: accuracy ${b.accuracy.toFixed(3)} -> ${a.accuracy.toFixed(3)}`);
  }
  model.dispose();
  return { before, after, events };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await runExample();
}
