import * as tf from '@tensorflow/tfjs-core';

/**
 * tfjs-backend-wasm 4.22 takes `_malloc(n) >>> 0` as a tensor's address without checking it. When
 * the heap is at wasm's 4 GiB limit, emscripten's malloc returns 0 (NULL) and the backend writes the
 * tensor over the bottom of the heap (C stack, static data, allocator state); the process then dies
 * later far from the cause ("memory access out of bounds" inside free, or Aborted()). The guard
 * turns the failed allocation into an error that names it, at the allocation.
 */
export class WasmHeapExhaustedError extends Error {
  constructor(
    readonly bytes: number,
    readonly heapBytes: number,
  ) {
    const mb = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`;
    super(
      `wasm heap exhausted: could not allocate ${mb(bytes)} (heap ${mb(heapBytes)}, limit 4 GiB); ` +
        'the model and its activations do not fit the wasm backend: use fewer rows per forward (rollouts, micro-batches), shorter sequences, or the tensorflow backend',
    );
    this.name = 'WasmHeapExhaustedError';
  }
}

/** The parts of the emscripten module the guard touches. */
export interface MallocModule {
  _malloc(bytes: number): number;
  asm: { malloc(bytes: number): number; memory: { readonly buffer: ArrayBuffer } };
}

const guarded = new WeakSet<object>();

/**
 * Replaces `module._malloc` by a checked call of the module's own `malloc` export (idempotent). The
 * property ignores later assignments: emscripten's lazy export stub rebinds `_malloc` on its first
 * internal call, which would drop the guard.
 */
export function guardWasmMalloc(module: MallocModule): void {
  if (guarded.has(module)) return;
  const malloc = module.asm.malloc;
  const checked = (bytes: number): number => {
    const ptr = malloc(bytes);
    if (ptr === 0 && bytes > 0) throw new WasmHeapExhaustedError(bytes >>> 0, module.asm.memory.buffer.byteLength);
    return ptr;
  };
  Object.defineProperty(module, '_malloc', { get: () => checked, set: () => {}, configurable: true });
  guarded.add(module);
}

/** Guards the registered wasm backend's allocator (called by registerWasmKernelFixes). */
export function guardWasmBackendMalloc(): void {
  const backend = tf.findBackend('wasm') as { wasm?: MallocModule } | null;
  if (backend?.wasm?.asm?.malloc) guardWasmMalloc(backend.wasm);
}
