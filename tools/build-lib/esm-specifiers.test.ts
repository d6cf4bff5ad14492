import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportedTargets } from './package-exports';
import { addJsExtensions, diskResolver } from './esm-specifiers';

// A small emitted tree: dist/index.js, dist/config.js, dist/model/index.js (+ .d.ts), dist/a/b.js.
let dist = '';
beforeAll(() => {
  dist = mkdtempSync(join(tmpdir(), 'emrl-esm-specifiers-'));
  mkdirSync(join(dist, 'model'));
  mkdirSync(join(dist, 'a'));
  for (const f of ['index.js', 'config.js', 'config.d.ts', 'model/index.js', 'model/index.d.ts', 'a/b.js']) writeFileSync(join(dist, f), '');
});
afterAll(() => rmSync(dist, { recursive: true, force: true }));

describe('addJsExtensions', () => {
  it('adds .js to files and /index.js to directories, in static, re-export, side-effect and dynamic imports', () => {
    const code = [
      "import { a } from './config';",
      'export * from "./model";',
      "import './a/b';",
      "const m = await import('./config');",
      "import { z } from 'zod';",
      "import data from './data.json' with { type: 'json' };",
    ].join('\n');
    expect(addJsExtensions(code, join(dist, 'index.js'))).toBe(
      [
        "import { a } from './config.js';",
        'export * from "./model/index.js";',
        "import './a/b.js';",
        "const m = await import('./config.js');",
        "import { z } from 'zod';",
        "import data from './data.json' with { type: 'json' };",
      ].join('\n'),
    );
  });

  it('rewrites parent-relative imports and import("...") types in declaration files', () => {
    const code = "import type { C } from '../config';\nexport declare const m: typeof import(\"../model\").X;\n";
    expect(addJsExtensions(code, join(dist, 'a', 'b.d.ts'))).toBe(
      "import type { C } from '../config.js';\nexport declare const m: typeof import(\"../model/index.js\").X;\n",
    );
  });

  it('leaves strings, comments and new URL(...) alone', () => {
    const code = "// import x from './config';\nconst s = \"import('./config')\";\nconst u = new URL('./worker-entry.js', import.meta.url);\n";
    expect(addJsExtensions(code, join(dist, 'index.js'))).toBe(code);
  });

  it('names the file and the specifier when an import resolves to nothing', () => {
    expect(() => addJsExtensions("import { x } from './missing';", join(dist, 'index.js'))).toThrow(/index\.js: import "\.\/missing" resolves to no emitted file/);
  });

  it('resolves a declaration file import to a .d.ts-only module, and a script import only to emitted .js', () => {
    writeFileSync(join(dist, 'types-only.d.ts'), '');
    expect(diskResolver(join(dist, 'index.d.ts'), './types-only')).toBe('./types-only.js');
    expect(diskResolver(join(dist, 'index.js'), './types-only')).toBeNull();
  });
});

describe('exportedTargets', () => {
  it('lists every promised file except the monorepo-only source condition', () => {
    const pkg = {
      exports: {
        '.': { '@emrl/source': './src/index.ts', types: './dist/index.d.ts', import: './dist/index.js' },
        './testing': { '@emrl/source': './src/testing.ts' },
      },
    };
    expect(exportedTargets(pkg, 'package.json')).toEqual(['./dist/index.d.ts', './dist/index.js']);
  });

  it('rejects a package.json without an exports map, naming the file and the fix', () => {
    expect(() => exportedTargets({}, 'libs/x/package.json')).toThrow(/libs\/x\/package\.json: "exports" must be an object/);
  });
});
