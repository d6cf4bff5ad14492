"""GFLOP/s of torch.matmul on the probe's shapes, 1 thread, CPU time (time.process_time).

Usage: OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 /usr/bin/python3 torch_gemm.py '<json list of shapes>' [reps]
Each shape is {"what", "a", "b", "ta", "tb"} as in shapes.ts; prints one JSON line
{"torch": version, "results": [{"what", "ms"}]} with the median CPU ms per product (output
allocation included, as in tfjs).
"""
import json
import statistics
import sys
import time

import torch


def per_call_ms(fn, min_s=0.05):
    calls, start = 0, time.process_time()
    while True:
        fn()
        calls += 1
        t = time.process_time() - start
        if t >= min_s:
            return t * 1e3 / calls


def main():
    shapes = json.loads(sys.argv[1])
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    torch.set_num_threads(1)
    torch.manual_seed(0)
    results = []
    for s in shapes:
        a = torch.randn(*s["a"])
        b = torch.randn(*s["b"])
        ao = a.transpose(-1, -2) if s["ta"] else a
        bo = b.transpose(-1, -2) if s["tb"] else b
        with torch.no_grad():
            torch.matmul(ao, bo)
            ms = statistics.median(per_call_ms(lambda: torch.matmul(ao, bo)) for _ in range(reps))
        results.append({"what": s["what"], "ms": ms})
    print(json.dumps({"torch": torch.__version__, "results": results}))


if __name__ == "__main__":
    main()
