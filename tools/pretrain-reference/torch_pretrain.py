#!/usr/bin/env python3
"""torch_pretrain: an independent PyTorch pretraining run of the embedded base model's recipe.

Cross-checks tools/build-base-model.ts: same documents (exported by export-docs.ts), same
architecture (GPT-2 block, learned positions, tied embeddings, byte vocabulary of 258), same
batching (prompt left-padded, positions counted from the first real token, loss on response
tokens), AdamW + warmup-cosine + clip 1. Prints loss, greedy and T=1 accuracy on the test split,
and teacher-forced accuracy by token kind (which part of the chain the model has not learnt yet).

  npx tsx tools/pretrain-reference/export-docs.ts --docs 96000 --out /tmp/docs.json
  /usr/bin/python3 tools/pretrain-reference/torch_pretrain.py --data /tmp/docs.json \
      --batch 32 --steps 3000 --lr 1.5e-3 --beta2 0.95 --eval 1500,3000

Needs: apt-get install -y python3-torch. One thread (the reference speed of embedded-lab.md).
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--data", required=True)
p.add_argument("--steps", type=int, default=3000)
p.add_argument("--batch", type=int, default=32)
p.add_argument("--lr", type=float, default=1.5e-3)
p.add_argument("--beta2", type=float, default=0.95)
p.add_argument("--warmup", type=int, default=100)
p.add_argument("--wd", type=float, default=0.01)
p.add_argument("--width", type=int, default=96)
p.add_argument("--layers", type=int, default=2)
p.add_argument("--heads", type=int, default=4)
p.add_argument("--seed", type=int, default=1)
p.add_argument("--eval", default="", help="comma-separated 1-based steps to evaluate at (the last step always is)")
a = p.parse_args()
torch.set_num_threads(1)
torch.manual_seed(a.seed)

PAD, V, MAX_POS, MAX_NEW = 256, 258, 64, 40
D, L, H = a.width, a.layers, a.heads
data = json.load(open(a.data))
assert len(data["docs"]) >= a.steps * a.batch, f"{a.data} has {len(data['docs'])} docs; need steps x batch = {a.steps * a.batch}"


def enc(s):
    return list(s.encode())


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(D, eps=1e-5), nn.LayerNorm(D, eps=1e-5)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.fc, self.fc2 = nn.Linear(D, 4 * D), nn.Linear(4 * D, D)

    def forward(self, x, bias):  # x [B, T, D], bias [B, 1, T, T]
        B, T, _ = x.shape
        q, k, v = (t.view(B, T, H, D // H).transpose(1, 2) for t in self.qkv(self.ln1(x)).split(D, -1))
        att = (q @ k.transpose(-1, -2) / math.sqrt(D // H) + bias).softmax(-1)
        x = x + self.proj((att @ v).transpose(1, 2).reshape(B, T, D))
        return x + self.fc2(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class LM(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, D), nn.Embedding(MAX_POS, D)
        self.blocks = nn.ModuleList(Block() for _ in range(L))
        self.lnf = nn.LayerNorm(D, eps=1e-5)
        for n, w in self.named_parameters():  # GPT-2 init: N(0, 0.02), residual projections / sqrt(2L)
            if w.dim() >= 2:
                nn.init.normal_(w, 0, 0.02 / (math.sqrt(2 * L) if n.endswith(("proj.weight", "fc2.weight")) else 1))
            elif "ln" not in n:  # biases; LayerNorm keeps weight 1, bias 0
                nn.init.zeros_(w)

    def forward(self, ids, mask):  # ids, mask [B, T] -> logits [B, T, V]
        T = ids.shape[1]
        pos = (mask.cumsum(1) - 1).clamp(min=0).long()  # Hugging Face convention: pads do not advance
        allowed = torch.tril(torch.ones(T, T, dtype=torch.bool))[None] & (mask[:, None, :] > 0)
        x = self.wte(ids) + self.wpe(pos)
        for b in self.blocks:
            x = b(x, torch.where(allowed, 0.0, -1e9)[:, None])
        return self.lnf(x) @ self.wte.weight.T


def pack(prompts, responses):
    """Left-padded prompts, right-padded responses; loss mask on response targets."""
    P, R = max(map(len, prompts)), max(map(len, responses))
    ids = torch.full((len(prompts), P + R), PAD)
    mask, lossm = torch.zeros(len(prompts), P + R), torch.zeros(len(prompts), P + R)
    for b, (pr, r) in enumerate(zip(prompts, responses)):
        ids[b, P - len(pr) : P] = torch.tensor(pr)
        mask[b, P - len(pr) : P] = 1
        if r:
            ids[b, P : P + len(r)] = torch.tensor(r)
            mask[b, P : P + len(r)] = 1
            lossm[b, P - 1 : P + len(r) - 1] = 1
    return ids, mask, lossm, P


@torch.no_grad()
def sample_accuracy(model, temperature, gen):
    prompts = [enc(e["prompt"]) for e in data["test"]]
    outs = [[] for _ in prompts]
    done = [False] * len(prompts)
    for _ in range(MAX_NEW):
        ids, mask, _, P = pack(prompts, outs)
        z = model(ids, mask)[:, P + len(outs[0]) - 1]  # every row has the same length: finished rows get pads
        nxt = z.argmax(-1) if temperature == 0 else torch.multinomial((z / temperature).softmax(-1), 1, generator=gen)[:, 0]
        for b in range(len(prompts)):
            outs[b].append(PAD if done[b] else int(nxt[b]))
            done[b] = done[b] or int(nxt[b]) == ord("$")
        if all(done):
            break
    right = 0
    for o, e in zip(outs, data["test"]):
        s = bytes(t for t in o if t < 256).decode(errors="replace")
        s = s[: s.index("$") + 1] if "$" in s else s
        right += s.endswith("$") and "#" in s and s[s.rfind("#") + 1 : -1] == e["answer"]
    return right / len(prompts)


@torch.no_grad()
def teacher_forced(model):
    """Argmax accuracy on the reference completion, by token kind of `a op b=r;` ... `#d$`."""
    prompts = [enc(e["prompt"]) for e in data["test"]]
    refs = [enc(e["reference"]) for e in data["test"]]
    ids, mask, _, P = pack(prompts, refs)
    pred = model(ids, mask).argmax(-1)
    kinds = {}
    for b, r in enumerate(refs):
        for j, t in enumerate(r):
            k = "first" if j == 0 else ["#", "answer", "$"][j - len(r) + 3] if j >= len(r) - 3 else ["a", "op", "b", "=", "r", ";"][j % 6]
            c = kinds.setdefault(k, [0, 0])
            c[0] += int(pred[b, P + j - 1]) == t
            c[1] += 1
    return {k: round(c[0] / c[1], 3) for k, c in kinds.items()}


model = LM()
opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, a.beta2), weight_decay=a.wd)
evals = {int(x) for x in a.eval.split(",") if x} | {a.steps}
t0 = time.time()
for s in range(a.steps):
    scale = (s + 1) / a.warmup if s < a.warmup else 0.5 * (1 + math.cos(math.pi * (s - a.warmup) / max(1, a.steps - a.warmup)))
    for g in opt.param_groups:
        g["lr"] = a.lr * scale
    rows = [(d[: d.index("=") + 1], d[d.index("=") + 1 :]) for d in data["docs"][s * a.batch : (s + 1) * a.batch]]
    ids, mask, lossm, _ = pack([enc(r[0]) for r in rows], [enc(r[1]) for r in rows])
    targets = torch.cat([ids[:, 1:], torch.full((len(rows), 1), PAD)], 1)
    ce = F.cross_entropy(model(ids, mask).reshape(-1, V), targets.reshape(-1), reduction="none")
    loss = (ce * lossm.reshape(-1)).sum() / lossm.sum()
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    if (s + 1) % 250 == 0:
        print(f"step {s + 1} loss {loss.item():.4f} {time.time() - t0:.0f}s", flush=True)
    if s + 1 in evals:
        model.eval()
        gen = torch.Generator().manual_seed(7)
        print(f"  eval step {s + 1}: greedy {sample_accuracy(model, 0, gen):.3f}  T=1 {sample_accuracy(model, 1, gen):.3f}  teacher-forced {teacher_forced(model)}", flush=True)
        model.train()
