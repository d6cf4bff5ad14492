import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import nx from '@nx/eslint-plugin';

// Layer arrows (docs/ARCHITECTURE.md): app -> em -> rl -> lm; each lib imports only the layers below it.
export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', 'runs/**', 'tmp/**', '**/*.mjs', '**/*.py'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          allow: [],
          banTransitiveDependencies: false,
          depConstraints: [
            { sourceTag: 'layer:lm', onlyDependOnLibsWithTags: [] },
            { sourceTag: 'layer:rl', onlyDependOnLibsWithTags: ['layer:lm'] },
            { sourceTag: 'layer:em', onlyDependOnLibsWithTags: ['layer:rl', 'layer:lm'] },
            { sourceTag: 'layer:app', onlyDependOnLibsWithTags: ['layer:em', 'layer:rl', 'layer:lm'] },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@emrl/*/src/*', '**/libs/*/src/*', '../../libs/*'], message: 'Import the lib through its public entry (@emrl/<lib>) instead of its internals.' },
          ],
        },
      ],
    },
  },
);
