/**
 * emrl's logits of an HF base directory (+ an optional PEFT LoRA adapter directory) on given token
 * ids, as JSON on stdout: the emrl side of tools/peft-check/check_peft.py.
 *
 * Usage: npx tsx --import ./tools/bench/register-hooks.ts tools/peft-check/emrl-logits.ts <base-dir> [adapter-dir] --ids 1,2,3
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, loadLoraAdapter, loadPretrained } from '@emrl/lm';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const idsAt = args.indexOf('--ids');
  if (idsAt < 0 || !args[idsAt + 1]) throw new Error('usage: emrl-logits.ts <base-dir> [adapter-dir] --ids 1,2,3');
  const ids = args[idsAt + 1]!.split(',').map((s) => Number.parseInt(s, 10));
  const [base, adapter] = args.filter((_, i) => i !== idsAt && i !== idsAt + 1);
  if (!base) throw new Error('emrl-logits.ts: give the base model directory');
  const backend = await initBackend();
  const { model } = await loadPretrained(base);
  if (adapter) await loadLoraAdapter(adapter, model);
  const logits = tf.tidy(() => model.forward(tf.tensor2d([ids], [1, ids.length], 'int32'))); // [1, T, V]
  const values = Array.from(await logits.data());
  logits.dispose();
  process.stdout.write(JSON.stringify({ backend: backend.name, shape: logits.shape, logits: values }) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
});
