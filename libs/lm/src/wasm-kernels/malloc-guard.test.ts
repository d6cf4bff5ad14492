import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../backend';
import { guardWasmMalloc, WasmHeapExhaustedError, type MallocModule } from './malloc-guard';

/** An emscripten-like module whose malloc fails (returns 0) above `limit` bytes. */
function fakeModule(limit: number): MallocModule & { calls: number[] } {
  const calls: number[] = [];
  const memory = { buffer: new ArrayBuffer(64 * 1024) };
  return {
    calls,
    asm: { malloc: (n: number) => (calls.push(n), n > limit ? 0 : 4096), memory },
    _malloc: () => {
      throw new Error('the unguarded stub must not be called');
    },
  };
}

describe('guardWasmMalloc', () => {
  it('passes successful allocations through and throws WasmHeapExhaustedError on NULL, naming the size', () => {
    const m = fakeModule(1000);
    guardWasmMalloc(m);
    expect(m._malloc(10)).toBe(4096);
    expect(() => m._malloc(3 * 2 ** 20)).toThrow(WasmHeapExhaustedError);
    expect(() => m._malloc(3 * 2 ** 20)).toThrow(/could not allocate 3.0 MiB \(heap 0.1 MiB, limit 4 GiB\)/);
    expect(m.calls).toEqual([10, 3 * 2 ** 20, 3 * 2 ** 20]);
  });

  it("survives emscripten's lazy stub reassigning _malloc, and is idempotent", () => {
    const m = fakeModule(0);
    guardWasmMalloc(m);
    guardWasmMalloc(m);
    m._malloc = (): number => 0; // what the stub does on its first internal call
    expect(() => m._malloc(8)).toThrow(WasmHeapExhaustedError);
    expect(m.calls).toEqual([8]);
  });

  it('is installed on the wasm backend by the kernel fixes, and tensors still allocate', async () => {
    await initBackend({ prefer: 'wasm' });
    const wasm = (tf.findBackend('wasm') as unknown as { wasm: object }).wasm;
    expect(Object.getOwnPropertyDescriptor(wasm, '_malloc')?.get).toBeTypeOf('function');
    const t = tf.tensor1d([1, 2, 3]);
    expect(Array.from(t.dataSync())).toEqual([1, 2, 3]);
    t.dispose();
  });
});
