import { defaultServerConditions, type UserConfig } from 'vite';

/**
 * Tests run the TypeScript sources, never a build: the `@emrl/source` export condition in each
 * lib's package.json points `@emrl/<lib>` (and `@emrl/<lib>/testing`) at `src/`, ahead of the
 * `types` / `import` conditions that published packages use (`dist/`). Node-environment tests
 * resolve through Vite's server (SSR) conditions.
 */
export const sourceConditions: Pick<UserConfig, 'ssr'> = {
  ssr: { resolve: { conditions: ['@emrl/source', ...defaultServerConditions] } },
};
