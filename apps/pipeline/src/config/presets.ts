import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from './config-error';
import { didYouMean } from './did-you-mean';

export const PRESETS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'presets');

/** Preset names shipped with the app (file names in src/presets without .yaml). */
export function listPresets(): string[] {
  return readdirSync(PRESETS_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -'.yaml'.length))
    .sort();
}

/** Sweep presets are sweep configs, not pipelines. */
export const SWEEP_PRESETS = ['curriculum-ablation'];

export function presetPath(name: string): string {
  const file = join(PRESETS_DIR, `${name}.yaml`);
  if (!existsSync(file)) {
    const names = listPresets();
    const guess = didYouMean(name, names);
    throw new ConfigError('--preset', [`unknown preset "${name}"${guess ? ` (did you mean "${guess}"?)` : ''}; available: ${names.join(', ')}`]);
  }
  return file;
}
