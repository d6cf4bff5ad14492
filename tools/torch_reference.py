#!/usr/bin/env python3
"""torch_reference: expected logits for a tiny Qwen2 checkpoint, computed with plain torch.

Usage: /usr/bin/python3 tools/torch_reference.py [model_dir]   (default libs/lm/fixtures/tiny-qwen2)
Needs: apt-get install -y python3-torch python3-numpy   (no transformers, no safetensors package)

Reads config.json + model.safetensors (header parsed by hand; F32/F16/BF16), runs the Qwen2
forward (RMSNorm, rotate_half RoPE, GQA, SwiGLU, q/k/v bias) in float64 on fixed input ids, and
writes <model_dir>/expected_logits.json = { input_ids [B][T], logits [B][T][V] }.
"""
import json
import math
import struct
import sys
from pathlib import Path

import numpy as np
import torch

# Row 0 is "<|im_start|>user\nthe cat sat on the mat<|im_end|>\n" in the fixture's tokenizer.
INPUT_IDS = [
    [278, 273, 10, 268, 261, 263, 265, 258, 267, 279, 10],
    [5, 100, 200, 277, 1, 50, 150, 250, 260, 270, 279],
]


def read_safetensors(path):
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        buf = data[b:end]
        if e["dtype"] == "F32":
            arr = np.frombuffer(buf, dtype="<f4")
        elif e["dtype"] == "F16":
            arr = np.frombuffer(buf, dtype="<f2").astype(np.float32)
        elif e["dtype"] == "BF16":
            arr = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {e['dtype']}")
        out[name] = torch.from_numpy(arr.astype(np.float64).reshape(e["shape"]))
    return out


def rms_norm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def qwen2_forward(cfg, w, ids):
    B, T = ids.shape
    H, Hkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D = cfg["hidden_size"]
    hd = cfg.get("head_dim", D // H)
    eps = cfg["rms_norm_eps"]
    inv_freq = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    freqs = torch.outer(torch.arange(T, dtype=torch.float64), inv_freq)  # [T, hd/2]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()  # [T, hd]
    causal = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)

    x = w["model.embed_tokens.weight"][ids]  # [B, T, D]
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        lin = lambda h, n: h @ w[p + n + ".weight"].T + (w[p + n + ".bias"] if p + n + ".bias" in w else 0)
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = lin(h, "self_attn.q_proj").view(B, T, H, hd).transpose(1, 2)  # [B, H, T, hd]
        k = lin(h, "self_attn.k_proj").view(B, T, Hkv, hd).transpose(1, 2)
        v = lin(h, "self_attn.v_proj").view(B, T, Hkv, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // Hkv, dim=1)  # GQA: kv head j serves query heads j*rep..(j+1)*rep-1
        v = v.repeat_interleave(H // Hkv, dim=1)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + causal, dim=-1)
        o = (att @ v).transpose(1, 2).reshape(B, T, H * hd)
        x = x + lin(o, "self_attn.o_proj")
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        x = x + lin(torch.nn.functional.silu(lin(h, "mlp.gate_proj")) * lin(h, "mlp.up_proj"), "mlp.down_proj")
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings", False) else w["lm_head.weight"]
    return x @ head.T  # [B, T, V]


def main():
    d = Path(sys.argv[1] if len(sys.argv) > 1 else "libs/lm/fixtures/tiny-qwen2")
    cfg = json.loads((d / "config.json").read_text())
    weights = read_safetensors(d / "model.safetensors")
    ids = torch.tensor(INPUT_IDS, dtype=torch.long)
    logits = qwen2_forward(cfg, weights, ids)
    out = {
        "note": "tools/torch_reference.py: float64 torch Qwen2 forward of model.safetensors",
        "input_ids": INPUT_IDS,
        "logits": [[[round(float(v), 6) for v in row] for row in seq] for seq in logits],
    }
    (d / "expected_logits.json").write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"wrote {d / 'expected_logits.json'}: logits {list(logits.shape)}, |max| {logits.abs().max().item():.3f}")


if __name__ == "__main__":
    main()
