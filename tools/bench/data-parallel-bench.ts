import { CausalLM, defineModelConfig, trainCausalLM, type TrainBatch } from '@emrl/lm';
import { median } from './stats';
import { VOCAB } from './model-bench';

export interface DataParallelResult {
  batch: number;
  workers: number;
  msPerStep: number; // median wall time of a full training step (pack, grads, average, AdamW)
  tokensPerS: number; // all input tokens (batch x seq) per second of wall time
  speedup: number; // vs workers = 1 at the same batch, same run
}

/**
 * Wall time of trainCausalLM steps on the embedded shape (2 x 96, batch x 51 tokens) with 1..n
 * data-parallel threads. Wall time, not CPU time: the point is using more than one core.
 */
export async function benchDataParallel(batches: number[], workerCounts: number[], steps: number): Promise<DataParallelResult[]> {
  const seq = 51;
  const config = defineModelConfig({ family: 'gpt2', vocabSize: VOCAB, hiddenSize: 96, numLayers: 2, numHeads: 4, maxPositions: 64, padTokenId: 0 });
  const out: DataParallelResult[] = [];
  for (const batch of batches) {
    const data = (step: number, b: number): TrainBatch => ({
      docs: Array.from({ length: b }, (_, r) => Array.from({ length: seq + 1 }, (_, t) => 1 + ((step * 31 + r * 7 + t * 3) % (VOCAB - 1)))),
    });
    let base = NaN;
    for (const workers of workerCounts) {
      const model = CausalLM.init(config, 0);
      const times: number[] = [];
      await trainCausalLM(model, {
        data,
        batchSize: batch,
        steps: steps + 3,
        padId: 0,
        workers,
        optimizer: { lr: 1e-3 },
        onStep: (info) => void (info.step >= 3 && times.push(info.elapsedMs)),
      });
      model.weights.forEach((v) => v.dispose());
      const deltas = times.slice(1).map((t, i) => t - times[i]!); // wall time between step ends
      const ms = median(deltas);
      if (workers === workerCounts[0]) base = ms;
      out.push({ batch, workers, msPerStep: ms, tokensPerS: (batch * seq) / (ms / 1000), speedup: base / ms });
    }
  }
  return out;
}
