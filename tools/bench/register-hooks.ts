import { register } from 'node:module';

// Lets `import '@tensorflow/tfjs-core/dist/register_all_gradients'` (used in libs/lm) load under tsx.
register('./tfjs-esm-hooks.mjs', import.meta.url);
