// Cross-checks a run directory before a resume: the checkpoints stage-state.json refers to exist
// and agree with it, and each stage's latest.json pointer agrees with the state, so a resume never
// silently restarts a stage or resumes from a step the event log does not have (issue 12).
import { existsSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { z } from 'zod';
import { checkCheckpointManifest } from './checkpoint-manifest';
import { readRunJson, RunFileError, type RunState, type StageRecord } from './run-files';

/** latest.json as @emrl/rl-grpo stage-checkpoint.ts writes it: the step and the step folder name. */
const LatestPointerSchema = z.object({ step: z.number().int().min(0), path: z.string().min(1) }).strict();
/** The part of trainer-state.json the app cross-checks. */
const TrainerStepSchema = z.object({ step: z.number().int().min(0) }).loose();

const WEIGHT_FILES = ['model.safetensors', 'model.safetensors.index.json'];

/** What prepareResume changed to make the directory agree with stage-state.json (for the log). */
export interface ResumeRepair {
  file: string;
  detail: string;
}

function checkCheckpointFolder(runDir: string, rec: StageRecord, stageDir: string): void {
  const ckpt = rec.lastCheckpoint!;
  const state = join(runDir, 'stage-state.json');
  const shown = relative(runDir, ckpt.path) || ckpt.path;
  if (!existsSync(ckpt.path) || !statSync(ckpt.path).isDirectory()) {
    throw new RunFileError(state, `stage "${rec.id}" resumes from ${shown} (step ${ckpt.step}), which does not exist; restore it from a copy of the run, or start the run again`);
  }
  if (ckpt.files) checkCheckpointManifest(ckpt.path, ckpt.files, 'stage-state.json', shown);
  const trainerState = join(ckpt.path, 'trainer-state.json');
  if (!existsSync(trainerState)) return; // not a @emrl/rl-grpo training checkpoint (e.g. a custom stage's)
  const saved = readRunJson(trainerState, TrainerStepSchema, 'trainer state');
  if (saved.step !== ckpt.step) {
    throw new RunFileError(trainerState, `records step ${saved.step} but stage-state.json resumes stage "${rec.id}" at step ${ckpt.step}; the checkpoint does not belong to this point of the run`);
  }
  if (existsSync(join(ckpt.path, 'config.json')) && !WEIGHT_FILES.some((f) => existsSync(join(ckpt.path, f)))) {
    throw new RunFileError(join(ckpt.path, 'model.safetensors'), 'missing model weights of a training checkpoint; restore the file or start the stage again');
  }
  const siblings = readdirSync(stageDir).filter((n) => /^step-\d+$/.test(n) && n !== basename(ckpt.path));
  if (!existsSync(join(ckpt.path, 'optimizer.safetensors')) && siblings.some((n) => existsSync(join(stageDir, n, 'optimizer.safetensors')))) {
    throw new RunFileError(join(ckpt.path, 'optimizer.safetensors'), `missing optimizer state (earlier checkpoints of stage "${rec.id}" have one); a resume would restart the optimizer silently`);
  }
}

/**
 * Makes `<stage>/latest.json` agree with stage-state.json. A pointer one checkpoint ahead is the
 * trace of a kill between renaming latest.json and saving stage-state.json: the event log was cut
 * at the state's step, so the pointer is moved back to it (atomically). Anything else is an error.
 */
function reconcileLatest(runDir: string, rec: StageRecord, stageDir: string): ResumeRepair | null {
  const ckpt = rec.lastCheckpoint!;
  const file = join(stageDir, 'latest.json');
  if (!existsSync(file)) {
    if (!existsSync(join(ckpt.path, 'trainer-state.json'))) return null; // stages without a pointer file
    throw new RunFileError(file, `missing, but stage-state.json resumes stage "${rec.id}" from step ${ckpt.step}; without it the stage would restart from step 0. Restore it: {"step":${ckpt.step},"path":"${basename(ckpt.path)}"}`);
  }
  const latest = readRunJson(file, LatestPointerSchema, 'checkpoint pointer');
  if (latest.step === ckpt.step && latest.path === basename(ckpt.path)) return null;
  if (latest.step < ckpt.step) {
    throw new RunFileError(file, `points at step ${latest.step}, behind stage-state.json (step ${ckpt.step}); the checkpoint folder was replaced or edited`);
  }
  const tmp = `${file}.tmp-${process.pid}-resume`;
  writeFileSync(tmp, JSON.stringify({ step: ckpt.step, path: basename(ckpt.path) }));
  renameSync(tmp, file);
  return { file, detail: `pointed at step ${latest.step}, newer than the last durable step ${ckpt.step} in stage-state.json; moved back to step ${ckpt.step}` };
}

/**
 * Checks what a resume will read, given the validated state (paths already absolute). Returns the
 * repairs made; throws a RunFileError naming the file for anything it cannot trust.
 */
export function checkResumeState(runDir: string, state: RunState, eventsSize: number): ResumeRepair[] {
  if (eventsSize < state.eventsBytes) {
    throw new RunFileError(
      join(runDir, 'events.jsonl'),
      `is ${eventsSize} bytes but stage-state.json records ${state.eventsBytes} durable bytes; the event log was truncated or replaced, so a resume would lose rows. Restore it from a copy of the run`,
    );
  }
  const repairs: ResumeRepair[] = [];
  const lastChanged = [...state.stages].reverse().find((s) => s.status === 'completed' && s.policyChanged);
  for (const rec of state.stages) {
    const needed = (rec.status === 'running' || rec === lastChanged) && rec.lastCheckpoint;
    if (!needed) continue;
    const stageDir = join(runDir, 'checkpoints', rec.id);
    checkCheckpointFolder(runDir, rec, stageDir);
    if (rec.status === 'running') {
      const repair = reconcileLatest(runDir, rec, stageDir);
      if (repair) repairs.push(repair);
    }
  }
  return repairs;
}
