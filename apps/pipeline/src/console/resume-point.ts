import { RunDir } from '../run-dir';

/**
 * What `emrl resume` will redo after an interruption, read from the run directory: the running
 * stage, its last checkpoint and its last completed step (from events.jsonl), e.g.
 * `grpo resumes after its step-10 checkpoint; steps 11-13 will be redone`.
 */
export function resumePointNote(dir: string): string | null {
  try {
    const runDir = RunDir.open(dir);
    const state = runDir.readState();
    const running = state?.stages.find((s) => s.status === 'running');
    if (!running) return null;
    let lastStep = 0;
    for (const e of runDir.readEvents()) if (e['type'] === 'metrics' && e['stage'] === running.id && typeof e['step'] === 'number') lastStep = Math.max(lastStep, e['step']);
    const saved = running.lastCheckpoint?.step ?? 0;
    const where = saved > 0 ? `after its step-${saved} checkpoint` : 'from its start (no checkpoint yet)';
    const redo = lastStep > saved ? `; step${lastStep - saved > 1 ? `s ${saved + 1}-${lastStep}` : ` ${lastStep}`} will be redone` : '; nothing will be redone';
    return `${running.id} resumes ${where}${redo}`;
  } catch {
    return null; // a damaged run directory: resume itself will say what is wrong
  }
}
