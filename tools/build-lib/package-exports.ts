/** The condition that points the monorepo's tests and tools at `src/` (never shipped). */
const SOURCE_CONDITION = '@emrl/source';

/** Every file path a lib's package.json `exports` map promises to consumers (the source condition aside); build-lib checks they exist. */
export function exportedTargets(pkg: { exports?: unknown }, file: string): string[] {
  if (typeof pkg.exports !== 'object' || pkg.exports === null) {
    throw new Error(`${file}: "exports" must be an object of entry points (e.g. { ".": { "types": "./dist/index.d.ts", "import": "./dist/index.js" } })`);
  }
  const targets: string[] = [];
  const walk = (value: unknown, condition: string) => {
    if (condition === SOURCE_CONDITION) return;
    if (typeof value === 'string') targets.push(value);
    else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, k);
  };
  walk(pkg.exports, '');
  return targets;
}
