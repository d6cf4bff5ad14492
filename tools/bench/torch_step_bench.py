#!/usr/bin/env python3
"""PyTorch reference for tools/bench/step-bench.ts: one EM step and one GRPO step on the embedded model.

Usage: python3 tools/bench/torch_step_bench.py --spec SPEC.json --threads N
SPEC.json is written by step-bench.ts: the model directory (HF safetensors, GPT-2), the encoded
prompts, the token decode table, the stop ids and every step setting. Prints one JSON object:
  {"torch": version, "results": [{"threads", "name", "ms", "rollout_ms", "score_ms", "update_ms",
                                  "rows", "seq_len", "generated_tokens"}, ...]}
The step is plain PyTorch, written here independently of emrl, in the same order as emrl's trainer:
rollout (KV-cached sampling, rewards, advantages, packing) -> score (old / reference log-probs)
-> backward + update (forward, loss, backward, global-norm clipping, torch.optim.AdamW; mu times).
Times are CPU time of this process with 1 thread and wall time with more (as torch_bench.py).
"""
import argparse
import copy
import json
import math
import os
import statistics
import struct
import time

import torch
import torch.nn.functional as F


def load_safetensors(path):
    """F32 tensors of a .safetensors file (8-byte header length, JSON header, raw data)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        if meta["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name} is {meta['dtype']}; this bench reads F32 only")
        a, b = meta["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[a:b]), dtype=torch.float32).reshape(meta["shape"]).clone()
    return out


class GPT2(torch.nn.Module):
    """GPT-2 (gelu_new, LayerNorm, learned positions, tied head) on HF weight names, Conv1D [in, out]."""

    def __init__(self, weights, cfg):
        super().__init__()
        self.n_layer, self.n_head, self.eps = cfg["n_layer"], cfg["n_head"], cfg["layer_norm_epsilon"]
        self.p = torch.nn.ParameterDict({k.replace(".", "_"): torch.nn.Parameter(v) for k, v in weights.items()})

    def w(self, name):
        return self.p["transformer_" + name.replace(".", "_")]

    def forward(self, ids, mask, positions, caches=None):
        """ids, mask (keys so far incl. these), positions [B, T] -> logits [B, T, V]."""
        b, t = ids.shape
        x = self.w("wte.weight")[ids] + self.w("wpe.weight")[positions]  # [B, T, D]
        d = x.shape[-1]
        hd = d // self.n_head
        tk = mask.shape[1]
        causal = torch.ones(t, tk, dtype=torch.bool).tril(diagonal=tk - t)  # [T, Tk]
        allowed = causal[None, None] & mask[:, None, None, :].bool()  # [B, 1, T, Tk]
        bias = torch.zeros(allowed.shape).masked_fill(~allowed, torch.finfo(torch.float32).min)
        for i in range(self.n_layer):
            h = f"h.{i}."
            y = F.layer_norm(x, (d,), self.w(h + "ln_1.weight"), self.w(h + "ln_1.bias"), self.eps)
            qkv = torch.addmm(self.w(h + "attn.c_attn.bias"), y.reshape(b * t, d), self.w(h + "attn.c_attn.weight")).view(b, t, 3, self.n_head, hd)
            q, k, v = (qkv[:, :, j].transpose(1, 2) for j in range(3))  # [B, H, T, hd]
            if caches is not None:
                c = caches[i]
                if "k" in c:
                    k = torch.cat([c["k"], k], dim=2)
                    v = torch.cat([c["v"], v], dim=2)
                c["k"], c["v"] = k, v
            att = (q @ k.transpose(-2, -1)) / math.sqrt(hd) + bias  # [B, H, T, Tk]
            y = (att.softmax(-1) @ v).transpose(1, 2).reshape(b * t, d)
            x = x + torch.addmm(self.w(h + "attn.c_proj.bias"), y, self.w(h + "attn.c_proj.weight")).view(b, t, d)
            y = F.layer_norm(x, (d,), self.w(h + "ln_2.weight"), self.w(h + "ln_2.bias"), self.eps).reshape(b * t, d)
            y = F.gelu(torch.addmm(self.w(h + "mlp.c_fc.bias"), y, self.w(h + "mlp.c_fc.weight")), approximate="tanh")
            x = x + torch.addmm(self.w(h + "mlp.c_proj.bias"), y, self.w(h + "mlp.c_proj.weight")).view(b, t, d)
        x = F.layer_norm(x, (d,), self.w("ln_f.weight"), self.w("ln_f.bias"), self.eps)
        return x @ self.w("wte.weight").T  # [B, T, V], tied head


def positions_of(mask):
    return (mask.cumsum(1) - 1).clamp(min=0)


@torch.no_grad()
def sample(model, prompts, max_new, temperature, stop_ids, pad_id, gen):
    """Left-padded prompts, KV-cached sampling at `temperature`; a row ends at a stop token (kept)."""
    b = len(prompts)
    p = max(len(x) for x in prompts)
    ids = torch.full((b, p), pad_id, dtype=torch.long)
    mask = torch.zeros((b, p), dtype=torch.long)
    for i, x in enumerate(prompts):
        ids[i, p - len(x):] = torch.tensor(x)
        mask[i, p - len(x):] = 1
    caches = [dict() for _ in range(model.n_layer)]
    logits = model(ids, mask, positions_of(mask), caches)[:, -1]
    out = [[] for _ in range(b)]
    done = [False] * b
    pos = mask.sum(1, keepdim=True) - 1
    for _ in range(max_new):
        probs = torch.softmax(logits / temperature, -1)
        tok = torch.multinomial(probs, 1, generator=gen)[:, 0]
        live = torch.tensor([not d for d in done])
        for i in range(b):
            if not done[i]:
                t = int(tok[i])
                out[i].append(t)
                done[i] = t in stop_ids
        if all(done):
            break
        feed = torch.where(live, tok, torch.full_like(tok, pad_id))[:, None]
        mask = torch.cat([mask, live.long()[:, None]], 1)
        pos = pos + 1
        logits = model(feed, mask, pos, caches)[:, -1]
    return out


def pack(prompts, completions, pad_id):
    """Left-padded prompts + right-padded completions; loss mask on positions predicting a completion token."""
    b = len(prompts)
    p = max(len(x) for x in prompts)
    r = max(len(x) for x in completions)
    ids = torch.full((b, p + r), pad_id, dtype=torch.long)
    mask = torch.zeros((b, p + r), dtype=torch.long)
    loss_mask = torch.zeros((b, p + r))
    for i, (x, c) in enumerate(zip(prompts, completions)):
        ids[i, p - len(x):p] = torch.tensor(x)
        ids[i, p:p + len(c)] = torch.tensor(c, dtype=torch.long)
        mask[i, p - len(x):p + len(c)] = 1
        loss_mask[i, p - 1:p - 1 + len(c)] = 1
    targets = torch.cat([ids[:, 1:], torch.full((b, 1), pad_id, dtype=torch.long)], 1)
    return ids, mask, targets, loss_mask


def token_logprobs(model, batch, temperature):
    ids, mask, targets, _ = batch
    logits = model(ids, mask, positions_of(mask)) / temperature  # [B, T, V]
    return torch.log_softmax(logits, -1).gather(-1, targets[..., None])[..., 0]  # [B, T]


def hash_answer(text):
    """The `#answer$` format: text after the last '#' before the first '$'."""
    stop = text.find("$")
    if stop < 0:
        return None
    head = text[:stop]
    h = head.rfind("#")
    return head[h + 1:] or None if h >= 0 else None


def update(model, opt, loss, clip):
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()


def em_step(model, opt, spec, gen, clock):
    """8 rollouts of one prompt at T=1, token-mean entropy at tau, AdamW."""
    s = spec["em"]
    t0 = clock()
    prompts = [s["prompt"]] * s["rollouts"]
    comps = sample(model, prompts, s["max_new_tokens"], s["sample_temperature"], set(spec["stop_ids"]), spec["pad_id"], gen)
    batch = pack(prompts, comps, spec["pad_id"])
    t1 = clock()
    ids, mask, _, loss_mask = batch
    z = model(ids, mask, positions_of(mask)) / s["tau"]  # [B, T, V]
    h = -(torch.softmax(z, -1) * torch.log_softmax(z, -1)).sum(-1)  # [B, T]
    loss = (h * loss_mask).sum() / loss_mask.sum().clamp(min=1)
    update(model, opt, loss, s["grad_clip"])
    t2 = clock()
    return {"rollout": t1 - t0, "score": 0.0, "update": t2 - t1, "rows": ids.shape[0], "seq_len": ids.shape[1], "generated": sum(map(len, comps))}


def grpo_step(model, ref, opt, spec, gen, clock):
    """8 prompts x 8 completions, accuracy reward, group advantages, clipped ratio + k3 KL (bnpo), mu updates."""
    s = spec["grpo"]
    g = s["group_size"]
    t0 = clock()
    pool = spec["pool"]
    pick = torch.randperm(len(pool), generator=gen)[: s["prompts_per_step"]].tolist()
    prompts = [pool[i]["ids"] for i in pick for _ in range(g)]
    comps = sample(model, prompts, s["max_new_tokens"], s["temperature"], set(spec["stop_ids"]), spec["pad_id"], gen)
    decode = spec["decode"]
    rewards = torch.tensor([1.0 if hash_answer("".join(decode[t] for t in c)) == pool[pick[i // g]]["answer"] else 0.0 for i, c in enumerate(comps)])
    r = rewards.view(-1, g)
    adv = ((r - r.mean(1, keepdim=True)) / (r.std(1, keepdim=True) + 1e-4)).reshape(-1, 1)  # [B, 1]
    batch = pack(prompts, comps, spec["pad_id"])
    t1 = clock()
    with torch.no_grad():
        old = token_logprobs(model, batch, s["temperature"]) if s["iterations"] > 1 else None
        ref_lp = token_logprobs(ref, batch, s["temperature"])
    t2 = clock()
    m = batch[3]
    for _ in range(s["iterations"]):
        logp = token_logprobs(model, batch, s["temperature"])
        ratio = torch.exp(logp - (old if old is not None else logp.detach()))
        clipped = ratio.clamp(1 - s["eps_low"], 1 + s["eps_high"])
        per_token = -torch.minimum(ratio * adv, clipped * adv)
        d = ref_lp - logp
        per_token = per_token + s["beta"] * (torch.exp(d) - d - 1)
        loss = (per_token * m).sum() / m.sum().clamp(min=1)
        update(model, opt, loss, s["grad_clip"])
    t3 = clock()
    return {"rollout": t1 - t0, "score": t2 - t1, "update": t3 - t2, "rows": m.shape[0], "seq_len": m.shape[1], "generated": sum(map(len, comps))}


def run(name, step_fn, reps, warmup, threads):
    for i in range(warmup):
        step_fn(i)
    parts = [step_fn(i + 1) for i in range(reps)]
    total = [p["rollout"] + p["score"] + p["update"] for p in parts]
    med = lambda k: statistics.median(p[k] for p in parts) * 1e3  # noqa: E731
    return {
        "threads": threads,
        "name": name,
        "ms": statistics.median(total) * 1e3,
        "rollout_ms": med("rollout"),
        "score_ms": med("score"),
        "update_ms": med("update"),
        "rows": parts[-1]["rows"],
        "seq_len": statistics.median(p["seq_len"] for p in parts),
        "generated_tokens": statistics.median(p["generated"] for p in parts),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", required=True)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    with open(args.spec) as f:
        spec = json.load(f)
    torch.set_num_threads(args.threads)
    clock = time.process_time if args.threads == 1 else time.perf_counter
    with open(os.path.join(spec["model_dir"], "config.json")) as f:
        cfg = json.load(f)
    weights = load_safetensors(os.path.join(spec["model_dir"], "model.safetensors"))
    gen = torch.Generator().manual_seed(spec["seed"])
    results = []

    # The same model as emrl's: its log-probs of the check rows (see step-bench.ts logprobCheck).
    check = spec["check"]
    batch = pack(check["prompts"], check["completions"], spec["pad_id"])
    with torch.no_grad():
        lp = token_logprobs(GPT2(weights, cfg), batch, 1.0)[batch[3] == 1]
    diff = float((lp - torch.tensor(check["logprobs"])).abs().max())

    model = GPT2(weights, cfg)
    e = spec["em"]
    opt = torch.optim.AdamW(model.parameters(), lr=e["lr"], betas=(0.9, 0.999), eps=1e-8, weight_decay=e["weight_decay"])
    results.append(run("em-step", lambda i: em_step(model, opt, spec, gen, clock), spec["reps"], spec["warmup"], args.threads))

    model = GPT2(weights, cfg)
    ref = copy.deepcopy(model).requires_grad_(False)
    s = spec["grpo"]
    opt = torch.optim.AdamW(model.parameters(), lr=s["lr"], betas=(0.9, 0.999), eps=1e-8, weight_decay=s["weight_decay"])
    results.append(run("grpo-step", lambda i: grpo_step(model, ref, opt, spec, gen, clock), spec["reps"], spec["warmup"], args.threads))
    print(json.dumps({"torch": torch.__version__, "check_max_abs_diff": diff, "results": results}))


if __name__ == "__main__":
    main()
