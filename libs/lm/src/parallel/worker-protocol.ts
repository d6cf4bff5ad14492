import type { BackendName } from '../backend';
import type { ModelConfig } from '../config';
import type { GenerateResult } from '../generation/generate';
import type { LoraConfig } from '../lora/lora-config';
import type { TrainingMode } from '../lora/lora-dropout';
import type { PackedArrays } from '../ops/pack-batch';
import type { TokenizerFiles } from '../tokenizer/tokenizer';

/** What a worker needs to rebuild a replica of a model (its weights follow in `weights` messages). */
export interface ReplicaSpec {
  config: ModelConfig;
  stopTokenIds: number[];
  /** The attached LoRA adapter's config; its variables arrive as `lora:<PEFT name>` weights. */
  lora: LoraConfig | null;
  /** The policy's tokenizer files (for stop strings on the decoded text); null = none. */
  tokenizerFiles: TokenizerFiles | null;
}

/** Generation options a worker can receive (no functions: stop strings travel as strings). */
export interface WorkerGenerateOptions {
  maxNewTokens?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  stopTokenIds?: number[];
  padTokenId?: number;
  rowSeeds: number[];
  useCache?: boolean;
  fusedDecoding?: boolean;
  stopStrings: string[];
}

/** Forward options a worker can receive (no tensors or adapters). */
export interface WorkerForwardOptions {
  disableLora?: boolean;
  training?: TrainingMode;
}

export type WorkerRequest =
  | { type: 'init'; backend: BackendName }
  | { type: 'build'; slot: string; spec: ReplicaSpec }
  /** Replaces the replica's LoRA adapter (null = none) and keeps its base weights (they did not change). */
  | { type: 'lora'; slot: string; lora: LoraConfig | null }
  /** Weights by key: `weight:<HF name>` (the model's internal layout) or `lora:<PEFT name>`. */
  | { type: 'weights'; slot: string; names: string[]; values: Float32Array[] }
  | { type: 'drop'; slot: string }
  | { type: 'generate'; slot: string; promptIds: number[][]; options: WorkerGenerateOptions }
  | { type: 'stats'; slot: string; packed: PackedArrays; temperatures: number[]; forward: WorkerForwardOptions; logitsBudgetBytes?: number }
  | {
      type: 'grads';
      slot: string;
      packed: PackedArrays;
      forward: WorkerForwardOptions;
      logitsBudgetBytes?: number;
      /** Computed as soon as the job starts (the forward pass), before the first stats command. */
      eagerTemperature: number;
      channel: SharedArrayBuffer;
      n: number;
    }
  | { type: 'memory' };

export type WorkerReply =
  | { type: 'ok' }
  | { type: 'generated'; result: GenerateResult }
  /** Per temperature: logProbs and entropy, [rows * T] each. */
  | { type: 'stats'; logProbs: Float32Array[]; entropy: Float32Array[] }
  /** Gradients keyed like the weights (`weight:` / `lora:`), of sum(stats * upstream). */
  | { type: 'grads'; names: string[]; values: Float32Array[] }
  | { type: 'memory'; numTensors: number }
  | { type: 'error'; message: string };
