import * as tf from '@tensorflow/tfjs-core';
import { createRequire } from 'node:module';
import { nativeGemmOptions } from './native-gemm/options';
import { nativeGemmStatus, type NativeGemmStatus } from './native-gemm/register';
import { registerWasmKernelFixes } from './wasm-kernels/index';

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

/** Which backend a run used and why each earlier choice was skipped (goes into every run record). */
export interface BackendInfo {
  name: BackendName;
  /** tfjs backend id as registered with tfjs-core ('tensorflow', 'wasm', 'cpu'). */
  tfjsBackend: string;
  skipped: { name: BackendName; reason: string }[];
  /** Kernel overrides registered on this backend (wasm only). */
  kernelFixes: string[];
  /** Whether BatchMatMul / _FusedMatMul ran on the native GEMM addon (wasm only), or why not. */
  nativeGemm: NativeGemmStatus;
  tfjsVersion: string;
}

const ORDER: BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];
const PACKAGE: Record<BackendName, string> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
};

let current: BackendInfo | null = null;

/**
 * tfjs-core ships its gradient functions only as an ESM side-effect module whose directory
 * imports Node cannot load; the @tensorflow/tfjs umbrella's Node bundle registers the same
 * functions (into tfjs's global registry, shared by every copy of tfjs-core).
 */
export function ensureGradientsRegistered(): void {
  if (tf.getGradient('Abs') !== undefined) return;
  createRequire(import.meta.url)('@tensorflow/tfjs');
  if (tf.getGradient('Abs') === undefined) throw new Error('could not register tfjs gradients (is @tensorflow/tfjs installed?)');
}

function isBackendName(s: string): s is BackendName {
  return (ORDER as string[]).includes(s);
}

/**
 * Initialize tensors once per process: tfjs-node-gpu, tfjs-node, wasm, cpu in that order.
 * `prefer` (or env EMRL_BACKEND) forces one backend; an unavailable forced backend is an error.
 */
export async function initBackend(opts: { prefer?: BackendName | 'auto' } = {}): Promise<BackendInfo> {
  const envPref = process.env['EMRL_BACKEND'];
  const prefer = opts.prefer && opts.prefer !== 'auto' ? opts.prefer : envPref && envPref !== 'auto' ? envPref : undefined;
  if (prefer !== undefined && !isBackendName(prefer)) {
    throw new Error(`EMRL_BACKEND / backend option: unknown backend "${prefer}"; expected one of ${ORDER.join(', ')} or auto`);
  }
  const { threads } = nativeGemmOptions(); // checks EMRL_NATIVE_GEMM / _THREADS before any backend starts
  ensureGradientsRegistered();
  if (current && (prefer === undefined || prefer === current.name)) return current;
  const candidates = prefer ? [prefer] : ORDER;
  const skipped: BackendInfo['skipped'] = [];
  for (const name of candidates) {
    try {
      const info = await tryBackend(name, threads);
      current = { ...info, skipped };
      return current;
    } catch (e) {
      skipped.push({ name, reason: (e as Error).message.split('\n')[0] ?? String(e) });
    }
  }
  throw new Error(
    `no tensor backend could be initialized: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}` +
      (prefer ? ` (forced by ${opts.prefer ? 'the backend option' : 'EMRL_BACKEND'}; unset it to fall back)` : ''),
  );
}

/** The backend chosen by initBackend, or null before it ran. */
export function currentBackend(): BackendInfo | null {
  return current;
}

async function tryBackend(name: BackendName, threads: 1 | 2): Promise<Omit<BackendInfo, 'skipped'>> {
  const require = createRequire(import.meta.url);
  if (name === 'tensorflow-gpu' || name === 'tensorflow') {
    // Native bindings register the 'tensorflow' backend on import; they are optionalDependencies.
    require(PACKAGE[name]);
    if (!(await tf.setBackend('tensorflow'))) throw new Error(`${PACKAGE[name]} loaded but its backend did not start`);
    return { name, tfjsBackend: 'tensorflow', kernelFixes: [], nativeGemm: notWasm(name, threads), tfjsVersion: tf.version_core };
  }
  if (name === 'wasm') {
    await withoutAddedProcessHandlers(async () => {
      await import('@tensorflow/tfjs-backend-wasm');
      if (!(await tf.setBackend('wasm'))) throw new Error('wasm backend did not start');
      await tf.ready();
    });
    const kernelFixes = registerWasmKernelFixes();
    return { name, tfjsBackend: 'wasm', kernelFixes, nativeGemm: nativeGemmStatus(), tfjsVersion: tf.version_core };
  }
  await import('@tensorflow/tfjs-backend-cpu');
  if (!(await tf.setBackend('cpu'))) throw new Error('cpu backend did not start');
  return { name, tfjsBackend: 'cpu', kernelFixes: [], nativeGemm: notWasm(name, threads), tfjsVersion: tf.version_core };
}

function notWasm(name: BackendName, threads: 1 | 2): NativeGemmStatus {
  return { used: false, reason: `backend ${name}: the native GEMM runs on the wasm heap only`, threads };
}

const PROCESS_ERROR_EVENTS = ['uncaughtException', 'unhandledRejection'] as const;

/**
 * Runs `init` and removes the process 'uncaughtException' / 'unhandledRejection' listeners it added.
 * emscripten's Node glue (tfjs-backend-wasm) installs listeners that rethrow every error from inside
 * its one 39 KB minified line, so Node printed that line before the message of any later uncaught
 * error (and exited 7). Without them Node's default handler prints the error's own message and stack.
 */
export async function withoutAddedProcessHandlers<T>(init: () => Promise<T>): Promise<T> {
  // process.listeners / removeListener typed loosely: the two events have different listener types.
  const proc = process as unknown as { listeners(ev: string): unknown[]; removeListener(ev: string, l: unknown): void };
  const before = new Map(PROCESS_ERROR_EVENTS.map((ev) => [ev, new Set(proc.listeners(ev))]));
  try {
    return await init();
  } finally {
    for (const ev of PROCESS_ERROR_EVENTS) {
      for (const l of proc.listeners(ev)) if (!before.get(ev)!.has(l)) proc.removeListener(ev, l);
    }
  }
}
