"""Loads scalinglab's Hugging Face GPT-2 exports with transformers and compares their logits.

Usage: python3 hf_check.py DIR [DIR ...]

Each DIR holds `config.json` and `model.safetensors` (written by `export_hf_gpt2`) and
`scalinglab_logits.json`: {"tokens": [...], "logits": [[...], ...], "tolerance": 1e-4}, the
logits scalinglab's own model computed for those tokens. For each DIR the model is loaded with
`GPT2LMHeadModel.from_pretrained(DIR)` (no key may be missing or unexpected), run in float32 on
the tokens, and the largest absolute logit difference printed as `max_abs_diff=...`.

Exit status: 0 if every DIR is within its tolerance, 1 if one is not (or loading reports missing
or unexpected keys), 3 with a line starting `skipped:` if torch or transformers cannot be
imported.
"""

import json
import sys


def check(directory):
    import torch
    from transformers import GPT2LMHeadModel

    with open(f"{directory}/scalinglab_logits.json") as f:
        expected = json.load(f)
    model, info = GPT2LMHeadModel.from_pretrained(directory, output_loading_info=True)
    problems = {k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    if problems:
        print(f"{directory}: loading reported {problems}")
        return False
    model = model.float().eval()
    tokens = torch.tensor([expected["tokens"]], dtype=torch.long)
    with torch.no_grad():
        logits = model(tokens).logits[0].double()
    want = torch.tensor(expected["logits"], dtype=torch.float64)
    if logits.shape != want.shape:
        print(f"{directory}: logits of shape {tuple(logits.shape)}, expected {tuple(want.shape)}")
        return False
    diff = (logits - want).abs().max().item()
    tolerance = expected.get("tolerance", 1e-4)
    ok = diff <= tolerance
    print(f"{directory}: max_abs_diff={diff:.3e} (tolerance {tolerance:g}) {'ok' if ok else 'FAILED'}")
    return ok


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    try:
        import torch
        import transformers
    except Exception as e:  # ImportError, or a broken install raising something else
        print(f"skipped: cannot import torch and transformers ({type(e).__name__}: {e})")
        return 3
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    results = [check(d) for d in sys.argv[1:]]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
