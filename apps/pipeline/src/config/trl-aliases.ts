/**
 * TRL's GRPOConfig / transformers TrainingArguments names as documented aliases of emrl's GRPO
 * options. Applied to a `grpo:` stage block before its schema parses it (apply-aliases.ts), read by
 * "did you mean" and by `emrl describe`. Defaults and meanings are TRL's grpo_config.py (v0.2x) and
 * TrainingArguments'; verl names are its ppo actor / rollout config.
 */

/** One option name in TRL (or transformers) that maps onto one emrl option. */
export interface OptionAlias {
  /** The TRL / TrainingArguments name a user writes. */
  trl: string;
  /** The emrl option (top-level key of the stage block) it sets. */
  emrl: string;
  /** TRL's default, shown by `emrl describe` next to emrl's. */
  trlDefault: unknown;
  /** TRL value -> emrl value, for options whose values differ (loss_type, scale_rewards). */
  values?: readonly { trl: unknown; emrl: unknown; note?: string }[];
  /** TRL values that have no emrl implementation, with the reason. */
  unsupported?: Record<string, string>;
  note?: string;
}

/** TRL's loss_type values and their emrl lossType (TRL grpo_config.py, "loss_type"). */
export const LOSS_TYPE_VALUES = [
  { trl: 'dapo', emrl: 'bnpo', note: "TRL's default: token sum / active tokens of the global accumulated batch = emrl bnpo (token mean over all micro-batches of a step)" },
  { trl: 'bnpo', emrl: 'bnpo', note: "TRL normalizes by the LOCAL (micro-)batch's tokens; emrl always by the whole step's tokens, so they agree when gradient_accumulation_steps = 1" },
  { trl: 'grpo', emrl: 'grpo', note: 'mean over sequences of per-sequence token means (length-biased; TRL advises against it)' },
  { trl: 'dr_grpo', emrl: 'dr_grpo', note: 'token sum / (B * max_completion_length) (Dr. GRPO, arXiv 2503.20783)' },
] as const;

/** TRL's scale_rewards values (bool or string) and emrl's scaleRewards. */
export const SCALE_REWARDS_VALUES = [
  { trl: true, emrl: 'group' },
  { trl: 'group', emrl: 'group' },
  { trl: 'batch', emrl: 'batch' },
  { trl: false, emrl: 'none' },
  { trl: 'none', emrl: 'none' },
] as const;

const GRPO_OPTION_ALIASES: readonly OptionAlias[] = [
  { trl: 'num_generations', emrl: 'groupSize', trlDefault: 8, note: 'G, completions per prompt (not num_iterations, which is mu)' },
  { trl: 'learning_rate', emrl: 'lr', trlDefault: 1e-6 },
  {
    trl: 'max_steps',
    emrl: 'steps',
    trlDefault: -1,
    note: 'TRL -1 means "run num_train_epochs"; emrl needs a positive step count',
    unsupported: { '-1': 'TRL -1 means "run num_train_epochs"; emrl needs a positive step count' },
  },
  { trl: 'beta', emrl: 'beta', trlDefault: 0 },
  { trl: 'epsilon', emrl: 'epsLow', trlDefault: 0.2 },
  { trl: 'epsilon_high', emrl: 'epsHigh', trlDefault: undefined, note: 'default: epsilon' },
  {
    trl: 'loss_type',
    emrl: 'lossType',
    trlDefault: 'dapo',
    values: LOSS_TYPE_VALUES,
    unsupported: {
      cispo: 'CISPO (MiniMax-M1) is not implemented in emrl',
      sapo: 'SAPO (soft gate) is not implemented in emrl',
      luspo: 'LUSPO is not implemented in emrl',
    },
  },
  { trl: 'scale_rewards', emrl: 'scaleRewards', trlDefault: 'group', values: SCALE_REWARDS_VALUES, unsupported: { mean: 'scaling by the group mean (MaxRL) is not implemented in emrl' } },
  { trl: 'num_iterations', emrl: 'numIterations', trlDefault: 1, note: 'mu, updates per batch of rollouts' },
  { trl: 'max_completion_length', emrl: 'maxCompletionLength', trlDefault: 256 },
  { trl: 'mask_truncated_completions', emrl: 'maskTruncatedCompletions', trlDefault: false },
  { trl: 'importance_sampling_level', emrl: 'importanceSampling', trlDefault: 'token' },
  { trl: 'temperature', emrl: 'temperature', trlDefault: 1 },
  { trl: 'top_p', emrl: 'topP', trlDefault: 1 },
  { trl: 'top_k', emrl: 'topK', trlDefault: 0 },
  { trl: 'gradient_accumulation_steps', emrl: 'gradientAccumulationSteps', trlDefault: 1, note: 'emrl splits promptsPerStep into this many micro-batches' },
  { trl: 'max_grad_norm', emrl: 'gradClip', trlDefault: 1 },
  { trl: 'weight_decay', emrl: 'weightDecay', trlDefault: 0 },
  { trl: 'logging_steps', emrl: 'logEvery', trlDefault: 10 },
  { trl: 'eval_steps', emrl: 'evalEvery', trlDefault: undefined },
  { trl: 'save_steps', emrl: 'checkpointEvery', trlDefault: 500 },
  { trl: 'lr_scheduler_type', emrl: 'schedule', trlDefault: 'linear', note: 'constant -> { type: constant }; cosine -> { type: warmup-cosine } (decays to 0 like transformers)' },
  { trl: 'warmup_ratio', emrl: 'schedule', trlDefault: 0, note: 'schedule.warmupSteps = ceil(warmup_ratio * steps), as transformers computes it' },
  { trl: 'warmup_steps', emrl: 'schedule', trlDefault: 0, note: 'schedule.warmupSteps' },
];

/** TRL options emrl has no equivalent for, with what to write instead. */
const GRPO_UNSUPPORTED: Record<string, string> = {
  per_device_train_batch_size: 'emrl sets the batch as promptsPerStep prompts x groupSize completions; use promptsPerStep',
  num_train_epochs: 'emrl counts optimizer steps; use steps (TRL max_steps)',
  use_vllm: 'emrl generates with its own batched KV-cache sampler; remove the key',
  seed: 'the seed is a top-level key of the pipeline file (seed: 0), not a stage option',
  output_dir: 'the run directory is chosen by "emrl run --out <dir>"',
};

/** verl (ppo actor / rollout / algorithm config) names of emrl's GRPO options, for `emrl describe`. */
const GRPO_VERL_NAMES: Record<string, string> = {
  groupSize: 'actor_rollout_ref.rollout.n',
  lr: 'actor_rollout_ref.actor.optim.lr',
  steps: 'trainer.total_training_steps',
  beta: 'actor_rollout_ref.actor.kl_loss_coef (use_kl_loss: true, kl_loss_type: low_var_kl)',
  epsLow: 'actor_rollout_ref.actor.clip_ratio_low',
  epsHigh: 'actor_rollout_ref.actor.clip_ratio_high',
  lossType: 'actor_rollout_ref.actor.loss_agg_mode (token-mean = bnpo, seq-mean-token-mean = grpo, seq-mean-token-sum-norm = dr_grpo)',
  scaleRewards: 'algorithm.norm_adv_by_std_in_grpo (true = group, false = none)',
  numIterations: 'actor_rollout_ref.actor.ppo_epochs',
  maxCompletionLength: 'data.max_response_length',
  temperature: 'actor_rollout_ref.rollout.temperature',
  topP: 'actor_rollout_ref.rollout.top_p',
  topK: 'actor_rollout_ref.rollout.top_k',
  gradClip: 'actor_rollout_ref.actor.grad_clip',
  weightDecay: 'actor_rollout_ref.actor.optim.weight_decay',
  promptsPerStep: 'data.train_batch_size',
  importanceSampling: 'actor_rollout_ref.actor.policy_loss.loss_mode (gspo = sequence)',
};

/** Everything the alias layer and `emrl describe` know about one stage kind. */
export interface StageAliasTable {
  aliases: readonly OptionAlias[];
  unsupported: Readonly<Record<string, string>>;
  verl: Readonly<Record<string, string>>;
}

const TABLES: Record<string, StageAliasTable> = {
  grpo: { aliases: GRPO_OPTION_ALIASES, unsupported: GRPO_UNSUPPORTED, verl: GRPO_VERL_NAMES },
};

/** The alias table of a stage kind (empty for kinds without TRL counterparts). */
export function aliasTableFor(kind: string): StageAliasTable {
  return TABLES[kind] ?? { aliases: [], unsupported: {}, verl: {} };
}

/** TRL names that set `emrl` (several for `schedule`). */
export function trlNamesOf(kind: string, emrl: string): OptionAlias[] {
  return aliasTableFor(kind).aliases.filter((a) => a.emrl === emrl);
}
