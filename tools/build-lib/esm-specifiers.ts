/**
 * Node-resolvable ESM specifiers for tsc output. The sources import relative modules without an
 * extension (`moduleResolution: Bundler`); Node's ESM loader needs the file (`./config.js`,
 * `./wasm-kernels/index.js`). tsc only rewrites extensions that are already written
 * (`rewriteRelativeImportExtensions`), and switching the sources to NodeNext would mean adding
 * `.js` to every one of their ~560 relative imports, so the build appends the extension to the
 * emitted `.js` and `.d.ts` files instead.
 */
import ts from 'typescript';
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** What a relative specifier of an emitted file becomes, or null when no emitted file matches. */
export type SpecifierResolver = (fromFile: string, specifier: string) => string | null;

const KNOWN_EXTENSION = /\.(m?js|cjs|json|node|wasm)$/;

function isFile(path: string): boolean {
  return existsSync(path) && statSync(path).isFile();
}

/**
 * Resolves against the files on disk: `./x` -> `./x.js` when `x.js` (or, for a declaration file,
 * `x.d.ts`) exists, else `./x/index.js` when that directory index exists.
 */
export const diskResolver: SpecifierResolver = (fromFile, specifier) => {
  const declaration = fromFile.endsWith('.d.ts');
  const base = resolve(dirname(fromFile), specifier);
  const emitted = (path: string) => (declaration ? isFile(`${path}.d.ts`) || isFile(`${path}.js`) : isFile(`${path}.js`));
  if (emitted(base)) return `${specifier}.js`;
  if (emitted(resolve(base, 'index'))) return `${specifier.replace(/\/$/, '')}/index.js`;
  return null;
};

/**
 * `code` (the text of emitted file `fileName`) with every relative import / export / dynamic
 * import / `import("...")` type specifier given its extension. Specifiers that already end in a
 * runtime extension and bare package names are left alone. Throws, naming the file and the
 * specifier, when one resolves to nothing.
 */
export function addJsExtensions(code: string, fileName: string, resolver: SpecifierResolver = diskResolver): string {
  const { importedFiles } = ts.preProcessFile(code, true, true);
  const edits: { start: number; end: number; text: string }[] = [];
  for (const ref of importedFiles) {
    const spec = ref.fileName;
    if (!spec.startsWith('./') && !spec.startsWith('../') && spec !== '.' && spec !== '..') continue;
    if (KNOWN_EXTENSION.test(spec)) continue;
    const replacement = resolver(fileName, spec);
    if (replacement === null) {
      throw new Error(`${fileName}: import "${spec}" resolves to no emitted file (expected ${spec}.js or ${spec}/index.js next to it); fix the import in the source or the build's include list`);
    }
    // ref.pos is the opening quote of the string literal; the specifier text follows it.
    const start = ref.pos + 1;
    const end = start + spec.length;
    if (code.slice(start, end) !== spec) throw new Error(`${fileName}: could not locate import "${spec}" at offset ${ref.pos}`);
    edits.push({ start, end, text: replacement });
  }
  let out = code;
  for (const e of edits.sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}
