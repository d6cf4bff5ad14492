#!/usr/bin/env python3
"""torch_reference_families: expected logits for the tiny Qwen3 / Llama 3 / GPT-2 fixtures, a PEFT
LoRA adapter fixture, and RoPE inverse frequencies, all computed with plain torch in float64.

Usage: /usr/bin/python3 tools/torch_reference_families.py [fixtures_dir]   (default libs/lm/fixtures)
Needs: apt-get install -y python3-torch python3-numpy   (no transformers, peft or safetensors package)

Fixtures: tiny-qwen3, tiny-llama3, tiny-llama-bias, tiny-gpt2-untied. Reads each fixture's config.json + model.safetensors (header parsed by hand) and writes
<fixture>/expected_logits.json = { input_ids [B][T], inv_freq, attention_factor, logits [B][T][V] }
(tiny-qwen3 also expected_logits_sliding.json: the same weights with a sliding window of 3 on layer 1).
The forward is written from the architectures' definitions (transformers' modeling_llama /
modeling_qwen3 / modeling_gpt2, RoPE variants of modeling_rope_utils), independent of emrl's code.
Also writes:
  tiny-llama3-lora/, tiny-gpt2-untied-lora/  PEFT adapter directories (adapter_config.json, adapter_model.safetensors written
                     by a small pure-python safetensors writer, PEFT tensor names) with random A and B,
                     and expected_logits.json of base + LoRA;
  rope_reference.json  inv_freq / attention factor of linear, dynamic, llama3 and yarn configs.
"""
import json
import math
import struct
import sys
from pathlib import Path

import numpy as np
import torch

INPUT_IDS = [
    [256, 116, 104, 101, 32, 99, 97, 116],
    [5, 100, 200, 17, 258, 50, 150, 250],
]
ROUND = 5  # decimals kept in the JSON (the tests allow 1e-4)


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
        elif e["dtype"] == "BF16":
            arr = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {e['dtype']}")
        out[name] = torch.from_numpy(arr.astype(np.float64).reshape(e["shape"]))
    return out


def write_safetensors_f32(path, tensors):
    """Minimal safetensors writer: JSON header (8-byte LE length, space padded to 8) + raw LE float32."""
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        b = tensors[name].to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))


# ---------------------------------------------------------------------------------------------
# RoPE inverse frequencies (modeling_rope_utils definitions)


def rope_params(cfg):
    """(rope_theta, scaling dict or None) from rope_theta / rope_scaling or rope_parameters."""
    params = cfg.get("rope_parameters") or {}
    theta = params.get("rope_theta", cfg.get("rope_theta", 10000.0))
    scaling = cfg.get("rope_scaling") or (params if params.get("rope_type", "default") != "default" else None)
    if scaling is not None and scaling.get("rope_type", scaling.get("type")) == "default":
        scaling = None
    return theta, scaling


def inv_freq_and_factor(cfg):
    hd = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    theta, s = rope_params(cfg)
    idx = torch.arange(0, hd, 2, dtype=torch.float64)
    base = 1.0 / (theta ** (idx / hd))
    if s is None:
        return base, 1.0
    kind = s.get("rope_type", s.get("type"))
    if kind == "linear":
        return base / s["factor"], 1.0
    if kind == "dynamic":  # equals the default up to max_position_embeddings
        return base, 1.0
    if kind == "llama3":
        factor, lo, hi, old = s["factor"], s["low_freq_factor"], s["high_freq_factor"], s["original_max_position_embeddings"]
        wavelen = 2 * math.pi / base
        scaled = torch.where(wavelen > old / lo, base / factor, base)
        smooth = (old / wavelen - lo) / (hi - lo)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = (wavelen >= old / hi) & (wavelen <= old / lo)
        return torch.where(medium, smoothed, scaled), 1.0
    if kind == "yarn":
        orig = s.get("original_max_position_embeddings") or cfg["max_position_embeddings"]
        factor = s.get("factor") or cfg["max_position_embeddings"] / orig

        def mscale(scale, m=1.0):
            return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

        att = s.get("attention_factor")
        if att is None:
            if s.get("mscale") and s.get("mscale_all_dim"):
                att = mscale(factor, s["mscale"]) / mscale(factor, s["mscale_all_dim"])
            else:
                att = mscale(factor)
        fast, slow = s.get("beta_fast") or 32, s.get("beta_slow") or 1

        def corr_dim(rot):
            return hd * math.log(orig / (rot * 2 * math.pi)) / (2 * math.log(theta))

        lo, hi = corr_dim(fast), corr_dim(slow)
        if s.get("truncate", True):
            lo, hi = math.floor(lo), math.ceil(hi)
        lo, hi = max(lo, 0), min(hi, hd - 1)
        if lo == hi:
            hi += 0.001
        ramp = torch.clamp((torch.arange(hd // 2, dtype=torch.float64) - lo) / (hi - lo), 0, 1)
        extra = 1 - ramp
        return base / factor * (1 - extra) + base * extra, att
    raise ValueError(f"unsupported rope type {kind}")


# ---------------------------------------------------------------------------------------------
# Forwards


def rms_norm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def llama_family_forward(cfg, w, ids, lora=None):
    """Llama / Qwen3 decoder. lora = (scale, {module: (A [r, in], B [out, r])}) adds s * x A^T B^T."""
    B, T = ids.shape
    H, Hkv, D = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["hidden_size"]
    hd = cfg.get("head_dim") or D // H
    eps = cfg["rms_norm_eps"]
    inv_freq, att = inv_freq_and_factor(cfg)
    emb = torch.outer(torch.arange(T, dtype=torch.float64), inv_freq)
    emb = torch.cat((emb, emb), dim=-1)
    cos, sin = emb.cos() * att, emb.sin() * att
    causal = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    # Qwen2/Qwen3 sliding window: layers >= max_window_layers see keys with 0 <= q - k < window.
    window = cfg.get("sliding_window") if cfg.get("use_sliding_window") else None
    q_minus_k = torch.arange(T)[:, None] - torch.arange(T)[None, :]
    windowed = causal.masked_fill(q_minus_k >= window, float("-inf")) if window else causal

    def lin(h, module):
        y = h @ w[module + ".weight"].T
        if module + ".bias" in w:
            y = y + w[module + ".bias"]
        if lora and module in lora[1]:
            a, b = lora[1][module]
            y = y + lora[0] * (h @ a.T @ b.T)
        return y

    x = w["model.embed_tokens.weight"][ids]
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = lin(h, p + "self_attn.q_proj").view(B, T, H, hd)
        k = lin(h, p + "self_attn.k_proj").view(B, T, Hkv, hd)
        v = lin(h, p + "self_attn.v_proj").view(B, T, Hkv, hd).transpose(1, 2)
        if cfg["model_type"] == "qwen3":
            q = rms_norm(q, w[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, w[p + "self_attn.k_norm.weight"], eps)
        q, k = q.transpose(1, 2), k.transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // Hkv, dim=1)
        v = v.repeat_interleave(H // Hkv, dim=1)
        mask = windowed if window and l >= cfg.get("max_window_layers", 28) else causal
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + mask, dim=-1)
        x = x + lin((a @ v).transpose(1, 2).reshape(B, T, H * hd), p + "self_attn.o_proj")
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        x = x + lin(torch.nn.functional.silu(lin(h, p + "mlp.gate_proj")) * lin(h, p + "mlp.up_proj"), p + "mlp.down_proj")
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings", False) else w["lm_head.weight"]
    return x @ head.T, inv_freq, att


def gpt2_forward(cfg, w, ids, lora=None):
    B, T = ids.shape
    D, H = cfg["n_embd"], cfg["n_head"]
    hd = D // H
    eps = cfg["layer_norm_epsilon"]
    act = cfg.get("activation_function", "gelu_new")
    gelu = (lambda t: torch.nn.functional.gelu(t)) if act == "gelu" else (lambda t: torch.nn.functional.gelu(t, approximate="tanh"))
    ln = lambda t, p: torch.nn.functional.layer_norm(t, (D,), w[p + ".weight"], w[p + ".bias"], eps)
    def conv(t, p):  # Conv1D weights are [in, out]; PEFT's lora_A is [r, in] and lora_B [out, r] all the same
        y = t @ w[p + ".weight"] + w[p + ".bias"]
        if lora and p in lora[1]:
            a, b = lora[1][p]
            y = y + lora[0] * (t @ a.T @ b.T)
        return y

    causal = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    x = w["transformer.wte.weight"][ids] + w["transformer.wpe.weight"][torch.arange(T)]
    for l in range(cfg["n_layer"]):
        p = f"transformer.h.{l}."
        q, k, v = conv(ln(x, p + "ln_1"), p + "attn.c_attn").split(D, dim=-1)
        q, k, v = (t.view(B, T, H, hd).transpose(1, 2) for t in (q, k, v))
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + causal, dim=-1)
        x = x + conv((a @ v).transpose(1, 2).reshape(B, T, D), p + "attn.c_proj")
        x = x + conv(gelu(conv(ln(x, p + "ln_2"), p + "mlp.c_fc")), p + "mlp.c_proj")
    x = ln(x, "transformer.ln_f")
    head = w["transformer.wte.weight"] if cfg.get("tie_word_embeddings", True) else w["lm_head.weight"]
    return x @ head.T, None, 1.0


def rounded(t):
    return [[[round(float(v), ROUND) for v in row] for row in seq] for seq in t]


def write_expected(d, logits, inv_freq, att, note, file="expected_logits.json", extra=None):
    out = {"note": note, "input_ids": INPUT_IDS, **(extra or {})}
    if inv_freq is not None:
        out["inv_freq"] = [float(f) for f in inv_freq]
        out["attention_factor"] = att
    out["logits"] = rounded(logits)
    (d / file).write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"wrote {d / file}: logits {list(logits.shape)}, |max| {logits.abs().max().item():.3f}")


def make_lora_fixture(root, name, cfg, w, ids, targets, forward):
    """PEFT adapter directory <name>: r 4, alpha 8, random A and B (B nonzero so it changes the logits)."""
    d = root / name
    d.mkdir(exist_ok=True)
    r, alpha = 4, 8
    gpt2 = cfg["model_type"] == "gpt2"
    g = torch.Generator().manual_seed(7)
    modules, tensors = {}, {}
    for name_, t in sorted(w.items()):
        if not name_.endswith(".weight") or t.dim() != 2 or name_.split(".")[-2] not in targets:
            continue
        m = name_[: -len(".weight")]
        in_dim, out_dim = t.shape if gpt2 else reversed(t.shape)  # Conv1D [in, out], nn.Linear [out, in]
        a = (torch.rand(r, in_dim, generator=g, dtype=torch.float64) * 2 - 1) / math.sqrt(in_dim)
        b = torch.randn(out_dim, r, generator=g, dtype=torch.float64) * 0.2
        a, b = a.to(torch.float32).to(torch.float64), b.to(torch.float32).to(torch.float64)  # stored as F32
        modules[m] = (a, b)
        tensors[f"base_model.model.{m}.lora_A.weight"] = a
        tensors[f"base_model.model.{m}.lora_B.weight"] = b
    write_safetensors_f32(d / "adapter_model.safetensors", tensors)
    config = {
        "alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": name.replace("-lora", ""), "bias": "none",
        "fan_in_fan_out": gpt2, "inference_mode": True, "init_lora_weights": True, "layers_pattern": None,
        "layers_to_transform": None, "lora_alpha": alpha, "lora_dropout": 0.05, "modules_to_save": None,
        "peft_type": "LORA", "r": r, "rank_pattern": {}, "revision": None, "target_modules": targets,
        "task_type": "CAUSAL_LM", "use_dora": False, "use_rslora": False,
    }
    (d / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n")
    logits, _, _ = forward(cfg, w, ids, lora=(alpha / r, modules))
    write_expected(d, logits, None, 1.0, f"tools/torch_reference_families.py: float64 torch {cfg['model_type']} forward of the base + this PEFT adapter (dropout off)")


ROPE_CASES = [
    {"rope_scaling": {"type": "linear", "factor": 4.0}},
    {"rope_scaling": {"type": "dynamic", "factor": 2.0}},
    {"rope_theta": 500000.0, "head_dim": 64, "max_position_embeddings": 131072,
     "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"}},
    {"rope_theta": 1000000.0, "head_dim": 128, "max_position_embeddings": 131072,
     "rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}},
    {"rope_theta": 10000.0, "head_dim": 64, "max_position_embeddings": 163840,
     "rope_scaling": {"type": "yarn", "factor": 40, "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0, "original_max_position_embeddings": 4096}},
    {"rope_parameters": {"rope_type": "yarn", "rope_theta": 10000.0, "factor": 8.0, "original_max_position_embeddings": 2048, "truncate": False, "attention_factor": 1.2}},
]


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "libs/lm/fixtures")
    ids = torch.tensor(INPUT_IDS, dtype=torch.long)
    for name in ["tiny-qwen3", "tiny-llama3", "tiny-llama-bias", "tiny-gpt2-untied"]:
        d = root / name
        cfg = json.loads((d / "config.json").read_text())
        w = read_safetensors(d / "model.safetensors")
        fwd = gpt2_forward if cfg["model_type"] == "gpt2" else llama_family_forward
        logits, inv_freq, att = fwd(cfg, w, ids)
        write_expected(d, logits, inv_freq, att, f"tools/torch_reference_families.py: float64 torch {cfg['model_type']} forward of model.safetensors")
        if name == "tiny-qwen3":
            patch = {"use_sliding_window": True, "sliding_window": 3, "max_window_layers": 1}
            logits, inv_freq, att = fwd({**cfg, **patch}, w, ids)
            write_expected(d, logits, inv_freq, att, "tools/torch_reference_families.py: float64 torch qwen3 forward with config_patch (sliding window on layer 1)", "expected_logits_sliding.json", {"config_patch": patch})
        if name == "tiny-llama3":
            make_lora_fixture(root, "tiny-llama3-lora", cfg, w, ids, ["q_proj", "v_proj", "down_proj"], llama_family_forward)
        if name == "tiny-gpt2-untied":
            make_lora_fixture(root, "tiny-gpt2-untied-lora", cfg, w, ids, ["c_attn", "c_proj", "c_fc"], gpt2_forward)
    cases = []
    for extra in ROPE_CASES:
        cfg = {"model_type": "llama", "hidden_size": 256, "num_attention_heads": 8, "max_position_embeddings": 4096, **extra}
        inv, att = inv_freq_and_factor(cfg)
        cases.append({"config": cfg, "inv_freq": [float(f) for f in inv], "attention_factor": att})
    (root / "rope_reference.json").write_text(json.dumps({"note": "tools/torch_reference_families.py", "cases": cases}, separators=(",", ":")) + "\n")
    print(f"wrote {root / 'rope_reference.json'} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
