/**
 * npm run bench [-- --quick] [-- --no-torch --no-gen --no-steps ...] [-- --real-size]: wasm kernel
 * fixes, forward+backward and generation throughput, the end-to-end EM / GRPO trainer step
 * (step-bench.ts), the same in PyTorch (torch_bench.py, torch_step_bench.py) when python3 has torch,
 * and the issue-#15 summary table; `--real-size` adds the Qwen2.5-0.5B-shaped rows
 * (real-size-bench.ts, torch_real_size.py). See docs/PERFORMANCE.md for the tables and what limits speed.
 *
 * The resolution hook must be registered before anything imports libs/lm (which imports tfjs-core's
 * ESM gradient files), hence the dynamic import.
 */
import './register-hooks';

await import('./run-bench');
