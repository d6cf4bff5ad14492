/**
 * When this process was started with an IPC channel (bin/emrl.mjs, a sweep's fork) and its parent
 * dies -- even by kill -9 -- the channel closes: stop like Ctrl-C (SIGTERM to ourselves, so a run
 * saves its state and exits 130) instead of running on as an orphan that races a later `emrl resume`.
 */
export function stopWhenParentDies(): void {
  if (!process.channel) return;
  process.channel.unref();
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}
