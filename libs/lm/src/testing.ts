// @emrl/lm/testing: tiny seeded fixtures for tests in any lib.
import { initBackend, type BackendInfo } from './backend';

/** Initialize the default backend for tests (wasm unless EMRL_BACKEND says otherwise). */
export async function setupTestBackend(): Promise<BackendInfo> {
  return initBackend();
}
