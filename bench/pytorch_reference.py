#!/usr/bin/env python3
"""PyTorch (eager, CPU) reference for `scalinglab bench`.

Trains the same GPT-2 (standard parameterization) with the same AdamW as the Rust benchmark
(crates/training/src/bench.rs, `train_steps`), on the same fixed batch of synthetic tokens, and
prints one JSON object per line on stdout:

    {"kind": "matmul", "size": 1024, "threads": T, "gflops": G}
    {"kind": "train", "shape": "2x128@50b64", ..., "tokens_per_s": x, "flops_per_s": y, ...}

Everything else (progress, losses) goes to stderr. See bench/README.md for what is mirrored and
the few deliberate differences. Needs only torch (no numpy).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
import warnings

# torch warns on import when numpy is missing; we do not use numpy.
warnings.filterwarnings("ignore", message=".*NumPy.*")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

DEFAULT_SHAPES = "2x64@50b64,2x128@50b64,2x256@50b64,2x512@50b64,6x384@256b16"

# ModelConfig::default() (crates/model/src/config.rs), for every field a bench shape leaves at
# its default: arch gpt2, d_ff = 4 d, untied unembedding, biases on (GPT-2), sp, dropout 0,
# init_std 0.02. burn's LayerNormConfig default epsilon is 1e-5.
INIT_STD = 0.02
MLP_RATIO = 4
TIE_EMBEDDINGS = False
BIAS = True
LAYER_NORM_EPS = 1e-5

# TrainConfig::default() (crates/training/src/config.rs) as the bench's optimiser uses it.
WEIGHT_DECAY = 0.01
BETA1 = 0.9
BETA2 = 0.95
EPS = 1e-8
GRAD_CLIP = 1.0

SHAPE_RE = re.compile(r"^\s*(\d+)\s*x\s*(\d+)\s*@\s*(\d+)\s*b\s*(\d+)\s*$")


def log(*args: object) -> None:
    print(*args, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Configuration and closed-form counts (crates/model/src/counts.rs)
# --------------------------------------------------------------------------------------------


def parse_shape(text: str) -> dict:
    m = SHAPE_RE.match(text)
    if not m:
        raise ValueError(f"bad shape {text!r}: expected LAYERSxWIDTH@CONTEXTbBATCH, e.g. 2x128@50b64")
    layers, width, context, batch = (int(g) for g in m.groups())
    if min(layers, width, context, batch) <= 0:
        raise ValueError(f"bad shape {text!r}: every number must be positive")
    return {"layers": layers, "width": width, "context": context, "batch": batch}


def shape_name(s: dict) -> str:
    """The canonical spelling, as BenchShape's Display writes it (the Rust side matches on it)."""
    return f"{s['layers']}x{s['width']}@{s['context']}b{s['batch']}"


def model_config(shape: dict, vocab: int, head_dim: int) -> dict:
    """BenchShape::model: `width / head_dim` heads (at least one), every other field default."""
    d = shape["width"]
    heads = max(d // max(head_dim, 1), 1)
    if d % heads != 0:
        raise ValueError(f"n_heads = {heads} must divide d_model = {d}")
    if vocab < 2:
        raise ValueError("vocab must be at least 2")
    return {
        "vocab": vocab,
        "context": shape["context"],
        "d": d,
        "layers": shape["layers"],
        "heads": heads,
        "d_ff": MLP_RATIO * d,
        "bias": BIAS,
        "tie": TIE_EMBEDDINGS,
    }


def param_counts(cfg: dict) -> tuple[int, int]:
    """(total, non_embedding) exactly as ModelConfig::param_counts (GPT-2 branch)."""
    v, t, d, f, n_layers = cfg["vocab"], cfg["context"], cfg["d"], cfg["d_ff"], cfg["layers"]
    b = int(cfg["bias"])
    embedding = v * d + t * d + (0 if cfg["tie"] else v * d)
    norm = d + b * d
    attn = 3 * d * d + 3 * b * d + d * d + b * d
    mlp = d * f + b * f + f * d + b * d
    non_embedding = n_layers * (2 * norm + attn + mlp) + norm
    return embedding + non_embedding, non_embedding


def flops_per_token(cfg: dict, non_embedding: int) -> float:
    """ModelConfig::flops_per_token(FlopCounting::WithUnembedding): 6N + 6 L T d + 6 d V."""
    d, n_layers, t, v = cfg["d"], cfg["layers"], cfg["context"], cfg["vocab"]
    return 6.0 * non_embedding + 6.0 * n_layers * t * d + 6.0 * d * v


# --------------------------------------------------------------------------------------------
# The model (crates/model/src/gpt.rs, arch gpt2, parameterization sp)
# --------------------------------------------------------------------------------------------


def normal_linear(d_in: int, d_out: int, bias: bool, std: float) -> nn.Linear:
    """gpt.rs `linear`: weight N(0, std²), bias zero."""
    lin = nn.Linear(d_in, d_out, bias=bias)
    nn.init.normal_(lin.weight, mean=0.0, std=std)
    if lin.bias is not None:
        nn.init.zeros_(lin.bias)
    return lin


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: dict, resid_std: float, attention: str):
        super().__init__()
        d, h = cfg["d"], cfg["heads"]
        self.n_heads = h
        self.head_dim = d // h
        self.scale = 1.0 / math.sqrt(self.head_dim)  # SP: 1/sqrt(d_head)
        self.attention = attention
        self.qkv = normal_linear(d, 3 * d, cfg["bias"], INIT_STD)  # fused q | k | v
        self.proj = normal_linear(d, d, cfg["bias"], resid_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        h, hd = self.n_heads, self.head_dim
        # [b, t, 3d] -> q, k, v as [b, h, t, hd]; q is columns 0..d, k d..2d, v 2d..3d.
        q, k, v = self.qkv(x).view(b, t, 3, h, hd).permute(2, 0, 3, 1, 4).unbind(0)
        if self.attention == "sdpa":
            y = F.scaled_dot_product_attention(q, k, v, is_causal=t > 1, scale=self.scale)
        else:
            # burn's attention_fallback under autodiff: QKᵀ·scale, causal -inf fill, softmax, ·V.
            scores = (q @ k.transpose(-2, -1)) * self.scale
            if t > 1:
                mask = torch.ones(t, t, dtype=torch.bool, device=x.device).triu_(1)
                scores = scores.masked_fill(mask, float("-inf"))
            y = torch.softmax(scores, dim=-1) @ v
        y = y.transpose(1, 2).reshape(b, t, d)
        return self.proj(y)


class Mlp(nn.Module):
    def __init__(self, cfg: dict, resid_std: float):
        super().__init__()
        self.fc = normal_linear(cfg["d"], cfg["d_ff"], cfg["bias"], INIT_STD)
        self.proj = normal_linear(cfg["d_ff"], cfg["d"], cfg["bias"], resid_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x)))  # exact (erf) GELU, as burn's `gelu`


class Block(nn.Module):
    def __init__(self, cfg: dict, resid_std: float, attention: str):
        super().__init__()
        d = cfg["d"]
        self.ln1 = nn.LayerNorm(d, eps=LAYER_NORM_EPS, bias=cfg["bias"])
        self.attn = CausalSelfAttention(cfg, resid_std, attention)
        self.ln2 = nn.LayerNorm(d, eps=LAYER_NORM_EPS, bias=cfg["bias"])
        self.mlp = Mlp(cfg, resid_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class Gpt(nn.Module):
    def __init__(self, cfg: dict, attention: str = "sdpa"):
        super().__init__()
        d = cfg["d"]
        resid_std = INIT_STD / math.sqrt(2.0 * cfg["layers"])
        self.tok_emb = nn.Embedding(cfg["vocab"], d)
        self.pos_emb = nn.Embedding(cfg["context"], d)
        nn.init.normal_(self.tok_emb.weight, mean=0.0, std=INIT_STD)
        nn.init.normal_(self.pos_emb.weight, mean=0.0, std=INIT_STD)
        self.blocks = nn.ModuleList(Block(cfg, resid_std, attention) for _ in range(cfg["layers"]))
        self.ln_f = nn.LayerNorm(d, eps=LAYER_NORM_EPS, bias=cfg["bias"])
        self.tie = cfg["tie"]
        # Untied unembedding (the default): no bias, N(0, init_std²) under SP.
        self.lm_head = None if self.tie else normal_linear(d, cfg["vocab"], False, INIT_STD)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        t = tokens.shape[1]
        x = self.tok_emb(tokens) + self.pos_emb.weight[:t].unsqueeze(0)
        for block in self.blocks:
            x = block(x)
        x = self.ln_f(x)
        return x @ self.tok_emb.weight.t() if self.lm_head is None else self.lm_head(x)

    def loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Gpt::loss: mean over every target of -log_softmax(logits)[target]."""
        logits = self(inputs)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))

    EMBEDDING_PARAMS = ("tok_emb.weight", "pos_emb.weight", "lm_head.weight")

    def role(self, name: str, p: torch.Tensor) -> str:
        """Gpt::param_roles: embedding / hidden / output matrices, or a vector."""
        if name in ("tok_emb.weight", "pos_emb.weight"):
            return "embedding"
        if name == "lm_head.weight":
            return "output"
        if name.endswith(".weight") and (".attn." in name or ".mlp." in name):
            return "hidden"
        return "vector"  # linear biases, LayerNorm gains and biases

    def counted_params(self) -> tuple[int, int]:
        """(total, non_embedding) counted from the tensors, with counts.rs's split."""
        total = sum(p.numel() for p in self.parameters())
        emb = sum(p.numel() for n, p in self.named_parameters() if n in self.EMBEDDING_PARAMS)
        return total, total - emb


def make_optimizer(model: Gpt, lr: float, impl: str) -> torch.optim.AdamW:
    """optim.rs AdamW: decoupled weight decay on matrices only (every role but Vector)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        is_matrix = model.role(name, p) != "vector"
        # run.rs's generic rule (decay iff the tensor has >= 2 dims) agrees for GPT-2.
        assert is_matrix == (p.dim() >= 2), name
        (decay if is_matrix else no_decay).append(p)
    groups = [
        {"params": decay, "weight_decay": WEIGHT_DECAY},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    kwargs = {}
    if impl == "foreach":
        kwargs["foreach"] = True
    elif impl == "fused":
        kwargs["fused"] = True
    return torch.optim.AdamW(groups, lr=lr, betas=(BETA1, BETA2), eps=EPS, **kwargs)


def clip_foreach_supported() -> bool:
    """Whether clip_grad_norm_(foreach=True) works on these tensors (CPU: yes in recent torch)."""
    try:
        probe = [torch.zeros(1, requires_grad=True)]
        probe[0].grad = torch.zeros(1)
        torch.nn.utils.clip_grad_norm_(probe, 1.0, foreach=True)
        return True
    except (RuntimeError, TypeError):
        return False


# --------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------


def set_threads(threads: int) -> None:
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError as e:  # already set, or parallel work already ran
        log(f"note: set_num_interop_threads(1) failed: {e}")
    torch.set_num_threads(threads)


def matmul_gflops(size: int) -> float:
    """bench.rs matmul_peak: one warm-up, then best of 5 rounds of 4 accumulated products."""
    g = torch.Generator().manual_seed(0)
    a = torch.rand(size, size, generator=g)
    b = torch.rand(size, size, generator=g)
    _ = (a @ b).sum().item()
    reps, best = 4, math.inf
    for _ in range(5):
        start = time.perf_counter()
        acc = a @ b
        for _ in range(1, reps):
            acc = acc + a @ b
        _ = acc[0, 0].item()
        best = min(best, (time.perf_counter() - start) / reps)
    return 2.0 * size**3 / best / 1e9


def train_steps(cfg: dict, batch: int, args: argparse.Namespace, barrier=None) -> dict:
    """bench.rs train_steps: `warmup` untimed then `steps` timed steps on one fixed batch."""
    torch.manual_seed(args.seed)
    model = Gpt(cfg, args.attention)
    model.train()
    opt = make_optimizer(model, args.lr, args.adamw)
    params = list(model.parameters())
    # clip_grad_norm_ over every parameter (the global norm), foreach where available.
    clip_foreach = True if clip_foreach_supported() else None
    t, v = cfg["context"], cfg["vocab"]
    tokens = ((torch.arange(batch * (t + 1), dtype=torch.int64) * 7919 + 13) % v).reshape(batch, t + 1)
    x, y = tokens[:, :t], tokens[:, 1:]
    phase = [0.0, 0.0, 0.0]
    losses = []
    start = time.perf_counter()
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            if barrier is not None:
                barrier.wait()
            start = time.perf_counter()
            phase = [0.0, 0.0, 0.0]
        t0 = time.perf_counter()
        loss = model.loss(x, y)
        losses.append(loss.item())  # the loss is read back to the host every step
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(params, GRAD_CLIP, foreach=clip_foreach)
        opt.step()
        opt.zero_grad(set_to_none=True)
        t3 = time.perf_counter()
        phase[0] += t1 - t0
        phase[1] += t2 - t1
        phase[2] += t3 - t2
    elapsed = time.perf_counter() - start
    total = max(sum(phase), sys.float_info.min)
    return {
        "seconds": elapsed,
        "phases": [p / total for p in phase],
        "loss_first": losses[0],
        "loss_last": losses[-1],
        "clip_foreach": clip_foreach is True,
    }


def worker(cfg: dict, batch: int, args: argparse.Namespace, barrier, queue, index: int) -> None:
    """One of `--jobs` side-by-side trainings, in its own (spawned) process."""
    try:
        set_threads(args.threads)
        queue.put((index, train_steps(cfg, batch, args, barrier), None))
    except BaseException as e:  # report, and release the others from the barrier
        try:
            barrier.abort()
        except Exception:
            pass
        queue.put((index, None, f"{type(e).__name__}: {e}"))


def run_shape(shape: dict, args: argparse.Namespace) -> dict:
    cfg = model_config(shape, args.vocab, args.head_dim)
    total_formula, non_emb_formula = param_counts(cfg)
    torch.manual_seed(args.seed)
    total_counted, non_emb_counted = Gpt(cfg, args.attention).counted_params()
    if (total_counted, non_emb_counted) != (total_formula, non_emb_formula):
        raise SystemExit(
            f"{shape_name(shape)}: the PyTorch model has {total_counted} parameters "
            f"({non_emb_counted} non-embedding), counts.rs says {total_formula} "
            f"({non_emb_formula}): the models differ"
        )
    batch, jobs = shape["batch"], args.jobs
    if jobs == 1:
        runs = [train_steps(cfg, batch, args)]
    else:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        barrier = ctx.Barrier(jobs)
        queue = ctx.Queue()
        procs = [
            ctx.Process(target=worker, args=(cfg, batch, args, barrier, queue, i)) for i in range(jobs)
        ]
        for p in procs:
            p.start()
        results = [queue.get() for _ in procs]
        for p in procs:
            p.join()
        errors = [e for _, _, e in results if e is not None]
        if errors:
            raise SystemExit(f"{shape_name(shape)}: a side-by-side run failed: {errors[0]}")
        runs = [r for _, r, _ in sorted(results, key=lambda r: r[0])]
    t, steps = cfg["context"], args.steps
    tokens_per_s = sum(steps * batch * t / r["seconds"] for r in runs)
    step_seconds = sum(r["seconds"] for r in runs) / (jobs * steps)
    phases = [sum(r["phases"][i] for r in runs) / jobs for i in range(3)]
    log(
        f"{shape_name(shape)}: loss {runs[0]['loss_first']:.4f} -> {runs[0]['loss_last']:.4f}, "
        f"{tokens_per_s:.0f} tokens/s, {1e3 * step_seconds:.1f} ms/step "
        f"(fwd/bwd/opt {'/'.join(f'{100 * p:.0f}' for p in phases)} %), "
        f"clip foreach: {runs[0]['clip_foreach']}"
    )
    return {
        "kind": "train",
        "shape": shape_name(shape),
        "layers": cfg["layers"],
        "width": cfg["d"],
        "context": cfg["context"],
        "batch": batch,
        "heads": cfg["heads"],
        "vocab": cfg["vocab"],
        "threads": args.threads,
        "jobs": jobs,
        "params_non_embedding": non_emb_counted,
        "params_total": total_counted,
        "tokens_per_s": tokens_per_s,
        "flops_per_s": tokens_per_s * flops_per_token(cfg, non_emb_formula),
        "step_seconds": step_seconds,
        "phases": phases,
        "attention": args.attention,
        "adamw": args.adamw,
        "torch": torch.__version__,
    }


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="PyTorch eager (CPU) reference for `scalinglab bench`: one JSON object per line."
    )
    ap.add_argument("--shapes", default=DEFAULT_SHAPES,
                    help="comma-separated LAYERSxWIDTH@CONTEXTbBATCH (default: %(default)s)")
    ap.add_argument("--vocab", type=int, default=1024)
    ap.add_argument("--head-dim", type=int, default=32, help="heads = width / head_dim")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="intra-op threads per training (default: every core, %(default)s)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="identical trainings side by side, one process each; tokens/s is summed")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--matmul-size", type=int, default=1024, help="0 skips the matmul line")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--attention", choices=["sdpa", "naive"], default="sdpa",
                    help="sdpa: F.scaled_dot_product_attention (PyTorch's fused kernel); naive: "
                         "matmul/mask/softmax/matmul, as burn's autodiff attention")
    ap.add_argument("--adamw", choices=["auto", "foreach", "fused"], default="auto",
                    help="torch.optim.AdamW implementation; auto is PyTorch's own choice "
                         "(the per-tensor loop on CPU)")
    args = ap.parse_args(argv)
    if args.threads < 1 or args.jobs < 1 or args.steps < 1 or args.warmup < 0:
        ap.error("--threads, --jobs and --steps must be >= 1, --warmup >= 0")
    try:
        shapes = [parse_shape(s) for s in args.shapes.split(",") if s.strip()]
    except ValueError as e:
        ap.error(str(e))
    cores = os.cpu_count() or 1
    if args.threads * args.jobs > cores:
        log(f"warning: {args.jobs} jobs x {args.threads} threads > {cores} cores")

    set_threads(args.threads)
    log(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"interop {torch.get_num_interop_threads()}, jobs {args.jobs}")
    if args.matmul_size > 0:
        gflops = matmul_gflops(args.matmul_size)
        emit({"kind": "matmul", "size": args.matmul_size, "threads": args.threads, "gflops": gflops})
    for shape in shapes:
        emit(run_shape(shape, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
