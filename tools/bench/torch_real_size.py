#!/usr/bin/env python3
"""PyTorch reference for tools/bench/real-size-bench.ts: a Qwen2.5-0.5B-shaped model, random weights.

Usage: python3 tools/bench/torch_real_size.py --layers N --threads T [--reps R] [--shape JSON]
--shape is real-size-measure.ts's REAL_SIZE (sizes, token counts, LoRA rank and modules).
Prints one JSON line: {"torch", "layers", "threads", "forward_tps", "decode_tps": {"b1", ...},
"lora_step_ms", "peak_rss"}. CPU time with 1 thread, wall time with more (as torch_bench.py).
Plain PyTorch written for this bench: RMSNorm, RoPE (theta 1e6), GQA with q/k/v bias, SwiGLU, tied head.
"""
import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn.functional as F

DEFAULT_SHAPE = {
    "vocab": 151936, "hidden": 896, "heads": 14, "kvHeads": 2, "intermediate": 4864,
    "forwardTokens": 128, "promptTokens": 16, "newTokens": 16, "decodeBatches": [1, 4],
    "loraTokens": 64, "loraRank": 16,
    "loraModules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
}


class Lora(torch.nn.Module):
    """y = x W^T + b + (alpha / r) x A^T B^T, PEFT's init (A random, B zero)."""

    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        self.a = torch.nn.Parameter(torch.randn(r, base.in_features) * 0.01)
        self.b = torch.nn.Parameter(torch.zeros(base.out_features, r))
        self.scale = alpha / r

    def forward(self, x):
        return self.base(x) + (x @ self.a.T @ self.b.T) * self.scale


class Qwen2(torch.nn.Module):
    def __init__(self, s, layers):
        super().__init__()
        d, h, kv, inter = s["hidden"], s["heads"], s["kvHeads"], s["intermediate"]
        self.h, self.kv, self.hd = h, kv, d // h
        self.embed = torch.nn.Embedding(s["vocab"], d)
        lin = torch.nn.Linear
        self.layers = torch.nn.ModuleList()
        for _ in range(layers):
            m = torch.nn.Module()
            m.q_proj, m.k_proj, m.v_proj = lin(d, h * self.hd), lin(d, kv * self.hd), lin(d, kv * self.hd)
            m.o_proj = lin(h * self.hd, d, bias=False)
            m.gate_proj, m.up_proj, m.down_proj = lin(d, inter, bias=False), lin(d, inter, bias=False), lin(inter, d, bias=False)
            m.ln1, m.ln2 = torch.nn.Parameter(torch.ones(d)), torch.nn.Parameter(torch.ones(d))
            self.layers.append(m)
        self.norm = torch.nn.Parameter(torch.ones(d))
        self.inv_freq = 1.0 / (1e6 ** (torch.arange(0, self.hd, 2).float() / self.hd))

    @staticmethod
    def rms(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w

    def rope(self, x, pos):  # x [B, H, T, hd]
        f = pos[:, None].float() * self.inv_freq[None]  # [T, hd/2]
        cos, sin = torch.cat([f, f], -1).cos(), torch.cat([f, f], -1).sin()
        x1, x2 = x[..., : self.hd // 2], x[..., self.hd // 2:]
        return x * cos + torch.cat([-x2, x1], -1) * sin

    def forward(self, ids, caches=None, past=0):
        b, t = ids.shape
        x = self.embed(ids)
        pos = torch.arange(past, past + t)
        for i, m in enumerate(self.layers):
            y = self.rms(x, m.ln1)
            q = self.rope(m.q_proj(y).view(b, t, self.h, self.hd).transpose(1, 2), pos)
            k = self.rope(m.k_proj(y).view(b, t, self.kv, self.hd).transpose(1, 2), pos)
            v = m.v_proj(y).view(b, t, self.kv, self.hd).transpose(1, 2)
            if caches is not None:
                c = caches[i]
                if "k" in c:
                    k, v = torch.cat([c["k"], k], 2), torch.cat([c["v"], v], 2)
                c["k"], c["v"] = k, v
            rep = self.h // self.kv
            k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)  # [B, H, Tk, hd]
            tk = k.shape[2]
            att = (q @ k.transpose(-2, -1)) / self.hd ** 0.5
            causal = torch.ones(t, tk, dtype=torch.bool).tril(diagonal=tk - t)
            att = att.masked_fill(~causal, float("-inf")).softmax(-1)
            x = x + m.o_proj((att @ v).transpose(1, 2).reshape(b, t, -1))
            y = self.rms(x, m.ln2)
            x = x + m.down_proj(F.silu(m.gate_proj(y)) * m.up_proj(y))
        return self.rms(x, self.norm) @ self.embed.weight.T  # [B, T, V], tied head


def timed(clock, reps, fn):
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times)


@torch.no_grad()
def greedy(model, prompts, new_tokens):
    caches = [dict() for _ in model.layers]
    logits = model(prompts, caches)
    past = prompts.shape[1]
    for _ in range(new_tokens):
        nxt = logits[:, -1].argmax(-1, keepdim=True)
        logits = model(nxt, caches, past)
        past += 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--shape", default="")
    args = ap.parse_args()
    s = json.loads(args.shape) if args.shape else DEFAULT_SHAPE
    torch.set_num_threads(args.threads)
    clock = time.process_time if args.threads == 1 else time.perf_counter
    torch.manual_seed(0)
    model = Qwen2(s, args.layers)
    for p in model.parameters():
        p.data.normal_(0, 0.02)
    v = s["vocab"]

    with torch.no_grad():
        ids = torch.randint(0, v, (1, s["forwardTokens"]))
        fwd = timed(clock, args.reps, lambda: model(ids))
    decode = {}
    for b in s["decodeBatches"]:
        prompts = torch.randint(0, v, (b, s["promptTokens"]))
        sec = timed(clock, args.reps, lambda: greedy(model, prompts, s["newTokens"]))
        decode[f"b{b}"] = b * s["newTokens"] / sec

    model.requires_grad_(False)
    for m in model.layers:
        for name in s["loraModules"]:
            setattr(m, name, Lora(getattr(m, name), s["loraRank"], 2 * s["loraRank"]))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
    x = torch.randint(0, v, (1, s["loraTokens"]))
    y = torch.randint(0, v, (s["loraTokens"],))

    def step():
        loss = F.cross_entropy(model(x).reshape(-1, v), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    lora = timed(clock, args.reps, step)
    print(json.dumps({
        "torch": torch.__version__, "layers": args.layers, "threads": args.threads,
        "forward_tps": s["forwardTokens"] / fwd, "decode_tps": decode, "lora_step_ms": lora * 1e3,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }))


if __name__ == "__main__":
    main()
