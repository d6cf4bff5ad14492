"""check_peft: emrl's PEFT adapters and merged directories against Python's peft and transformers.

For a base Hugging Face directory and a LoRA adapter directory written by emrl (a LoRA checkpoint's
`step-N/adapter/`), and optionally emrl's merged directory (`emrl merge ... --out DIR`):
  1. transformers loads the base, peft's PeftModel.from_pretrained loads emrl's adapter: its logits
     must equal emrl's logits of base + adapter (tools/peft-check/emrl-logits.ts);
  2. peft's merge_and_unload() logits must equal transformers' logits of emrl's merged directory.
Tolerance 1e-4 absolute (float32 on two implementations). Exits 1 on a mismatch.

Needs a Python with torch, transformers and peft (not a runtime dependency of emrl), e.g.
  python3 -m venv /tmp/peftenv && /tmp/peftenv/bin/pip install peft transformers
Usage (from the repository root):
  /tmp/peftenv/bin/python tools/peft-check/check_peft.py BASE ADAPTER [MERGED]
"""
import json
import subprocess
import sys

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

TOL = 1e-4


def emrl_logits(base, adapter, ids):
    cmd = ["npx", "tsx", "--import", "./tools/bench/register-hooks.ts", "tools/peft-check/emrl-logits.ts", base]
    if adapter:
        cmd.append(adapter)
    cmd += ["--ids", ",".join(str(i) for i in ids)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    data = json.loads(out.strip().splitlines()[-1])
    return torch.tensor(data["logits"], dtype=torch.float32).reshape(data["shape"])


def report(what, a, b):
    diff = (a - b).abs().max().item()
    ok = diff <= TOL
    print(f"{what}: max |diff| {diff:.3e} ({'ok' if ok else 'MISMATCH'}, tolerance {TOL})")
    return ok


def main():
    if len(sys.argv) not in (3, 4):
        print(__doc__)
        sys.exit(2)
    base, adapter = sys.argv[1], sys.argv[2]
    merged = sys.argv[3] if len(sys.argv) == 4 else None
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(base, torch_dtype=torch.float32)
    vocab = model.config.vocab_size
    ids = torch.randint(0, min(vocab, 250), (12,)).tolist()
    x = torch.tensor([ids])
    with torch.no_grad():
        base_logits = model(x).logits
    peft_model = PeftModel.from_pretrained(model, adapter)
    peft_model.eval()
    with torch.no_grad():
        peft_logits = peft_model(x).logits
    ok = True
    ok &= report("base: transformers vs emrl", base_logits, emrl_logits(base, None, ids))
    ok &= report("base + adapter: peft PeftModel.from_pretrained vs emrl", peft_logits, emrl_logits(base, adapter, ids))
    print(f"  (the adapter changes the logits by up to {(peft_logits - base_logits).abs().max().item():.3e})")
    if merged:
        unloaded = peft_model.merge_and_unload()
        with torch.no_grad():
            merged_peft = unloaded(x).logits
        emrl_merged = AutoModelForCausalLM.from_pretrained(merged, torch_dtype=torch.float32)
        with torch.no_grad():
            merged_emrl = emrl_merged(x).logits
        ok &= report("merged: peft merge_and_unload vs transformers on emrl's merged directory", merged_peft, merged_emrl)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
