/**
 * npm run bench [-- --quick] [-- --no-torch --no-gen ...]: wasm kernel fixes, forward+backward and
 * generation throughput, and the same shapes in PyTorch (tools/bench/torch_bench.py) when python3 has
 * torch. See docs/PERFORMANCE.md for the table and what limits speed.
 *
 * The resolution hook must be registered before anything imports libs/lm (which imports tfjs-core's
 * ESM gradient files), hence the dynamic import.
 */
import './register-hooks';

await import('./run-bench');
