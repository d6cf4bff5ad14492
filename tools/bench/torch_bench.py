#!/usr/bin/env python3
"""PyTorch reference for tools/bench/bench.ts: the same GPT-2 shapes on CPU, 1 and 2 threads.

Usage: python3 tools/bench/torch_bench.py [--quick] [--threads 1,2] [--reps N]
Prints one JSON object on stdout:
  {"torch": version, "results": [{"threads": n, "name": ..., "tokens_per_s": ..., "ms": ...}, ...]}
Names match bench.ts: train-a, train-b, gen-cache-b1/16/64, gen-nocache-b16.
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.out = nn.Linear(4 * d, d)

    def forward(self, x, cache=None):
        b, t, d = x.shape
        hd = d // self.h
        q, k, v = self.attn(self.ln1(x)).split(d, dim=2)
        q = q.view(b, t, self.h, hd).transpose(1, 2)  # (B, H, T, hd)
        k = k.view(b, t, self.h, hd).transpose(1, 2)
        v = v.view(b, t, self.h, hd).transpose(1, 2)
        if cache is not None:
            if "k" in cache:
                k = torch.cat([cache["k"], k], dim=2)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        tk = k.shape[2]
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hd)  # (B, H, T, Tk)
        causal = torch.ones(t, tk, dtype=torch.bool).tril(diagonal=tk - t)
        att = att.masked_fill(~causal, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(y)
        return x + self.out(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, vocab, d, layers, heads, max_pos):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(max_pos, d)
        self.blocks = nn.ModuleList([Block(d, heads) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(d)

    def forward(self, ids, caches=None, past=0):
        t = ids.shape[1]
        x = self.wte(ids) + self.wpe(torch.arange(past, past + t))
        for i, blk in enumerate(self.blocks):
            x = blk(x, None if caches is None else caches[i])
        return self.ln_f(x) @ self.wte.weight.T  # tied head


CLOCK = time.perf_counter


def timed(fn, reps):
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t0 = CLOCK()
        fn()
        times.append(CLOCK() - t0)
    return statistics.median(times)


def train_step(model, opt_ids, vocab):
    logits = model(opt_ids)
    loss = F.cross_entropy(logits.reshape(-1, vocab), opt_ids.reshape(-1))
    loss.backward()
    model.zero_grad(set_to_none=True)


@torch.no_grad()
def generate(model, batch, prompt_len, new_tokens, use_cache, vocab):
    ids = torch.randint(0, vocab, (batch, prompt_len))
    caches = [dict() for _ in model.blocks] if use_cache else None
    past = 0
    cur = ids
    for _ in range(new_tokens):
        logits = model(cur, caches, past) if use_cache else model(ids)
        nxt = logits[:, -1].argmax(-1, keepdim=True)
        ids = torch.cat([ids, nxt], dim=1)
        if use_cache:
            past += cur.shape[1]
            cur = nxt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=0)
    args = ap.parse_args()
    reps = args.reps or (2 if args.quick else 5)
    vocab = 258
    torch.manual_seed(0)
    small = GPT(vocab, 96, 2, 4, 128)
    b_batch = 1 if args.quick else 2
    big = GPT(vocab, 512, 8, 8, 256)
    results = []
    global CLOCK
    for threads in [int(s) for s in args.threads.split(",")]:
        torch.set_num_threads(threads)
        # The machine is shared: CPU time with one thread (like bench.ts), wall time with more.
        CLOCK = time.process_time if threads == 1 else time.perf_counter
        ids_a = torch.randint(0, vocab, (64, 51))
        s = timed(lambda: train_step(small, ids_a, vocab), reps)
        results.append({"threads": threads, "name": "train-a", "ms": s * 1e3, "tokens_per_s": 64 * 51 / s})
        ids_b = torch.randint(0, vocab, (b_batch, 256))
        s = timed(lambda: train_step(big, ids_b, vocab), max(1, reps // 2))
        results.append({"threads": threads, "name": "train-b", "ms": s * 1e3, "tokens_per_s": b_batch * 256 / s})
        for batch in (1, 16, 64):
            s = timed(lambda: generate(small, batch, 13, 38, True, vocab), max(1, reps // 2))
            results.append({"threads": threads, "name": f"gen-cache-b{batch}", "ms": s * 1e3, "tokens_per_s": batch * 38 / s})
        for batch in (16,) if args.quick else (16, 64):
            s = timed(lambda: generate(small, batch, 13, 38, False, vocab), max(1, reps // 2))
            results.append({"threads": threads, "name": f"gen-nocache-b{batch}", "ms": s * 1e3, "tokens_per_s": batch * 38 / s})
    print(json.dumps({"torch": torch.__version__, "train_b_batch": b_batch, "results": results}))


if __name__ == "__main__":
    main()
