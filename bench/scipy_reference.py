#!/usr/bin/env python3
"""scipy reference for approach 3's multi-start fit (`cargo run -p scalinglab-analysis --example fit_bench`).

Runs `scipy.optimize.minimize(method="L-BFGS-B")` from every start of `starts.csv` on the points of
`points.csv` (both written by `fit_bench --write-inputs DIR`), on the objective that
crates/analysis/src/frontier/joint.rs minimises:

    (1 / (n δ)) Σᵢ Huber_δ( LSE(a − α ln Nᵢ, b − β ln Dᵢ, e) − ln Lᵢ ),   δ = 1e-3,

with its analytic gradient (`jac=True`), as Chinchilla's reproduction fits it, and prints one JSON
object on stdout (progress goes to stderr):

    {"kind": "scipy_reference", "scipy": "1.17.1", "points": 256, "starts": 4500, "jobs": 1,
     "seconds": ..., "converged": ..., "starts_at_best": ..., "best": {"objective": ..., "e": ..., ...}}

`seconds` is the wall time of the minimisations alone (not reading the files or importing scipy).
`best.objective` is Σ Huber_δ (not divided by n δ), the number joint.rs reports. See bench/README.md.
Needs numpy and scipy.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import sys
import time

import numpy as np
import scipy
from scipy.optimize import minimize


def read_points(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ln N, ln D, ln L) of the points of a `run_id,n,d,loss` CSV."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    n = np.array([float(r["n"]) for r in rows])
    d = np.array([float(r["d"]) for r in rows])
    loss = np.array([float(r["loss"]) for r in rows])
    return np.log(n), np.log(d), np.log(loss)


def read_starts(path: str) -> np.ndarray:
    """The starts `(a, b, e, alpha, beta)` of an `a,b,e,alpha,beta` CSV, one row each."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return np.array([[float(r[k]) for k in ("a", "b", "e", "alpha", "beta")] for r in rows])


def make_objective(ln_n: np.ndarray, ln_d: np.ndarray, ln_l: np.ndarray, delta: float):
    """joint.rs's scaled objective and its gradient in (a, b, e, alpha, beta)."""
    scale = 1.0 / (len(ln_l) * delta)

    def huber_terms(t: np.ndarray):
        a, b, e, alpha, beta = t
        t1 = a - alpha * ln_n
        t2 = b - beta * ln_d
        m = np.maximum(np.maximum(t1, t2), e)
        e1, e2, e3 = np.exp(t1 - m), np.exp(t2 - m), np.exp(e - m)
        s = e1 + e2 + e3
        r = m + np.log(s) - ln_l
        ar = np.abs(r)
        inside = ar <= delta
        h = np.where(inside, 0.5 * r * r, delta * (ar - 0.5 * delta))
        psi = np.where(inside, r, delta * np.sign(r))
        return h, psi, e1 / s, e2 / s, e3 / s

    def fg(t: np.ndarray):
        h, psi, w1, w2, w3 = huber_terms(t)
        pw1, pw2 = psi * w1, psi * w2
        g = np.array([pw1.sum(), pw2.sum(), (psi * w3).sum(), -(pw1 @ ln_n), -(pw2 @ ln_d)])
        return h.sum() * scale, g * scale

    def huber_sum(t: np.ndarray) -> float:
        return float(huber_terms(t)[0].sum())

    return fg, huber_sum


# Set by `init_worker` in each process of the pool.
_FG = None
_OPTIONS = None


def init_worker(points_path: str, delta: float, options: dict) -> None:
    global _FG, _OPTIONS
    _FG = make_objective(*read_points(points_path), delta)[0]
    _OPTIONS = options


def run_start(x0) -> tuple[float, list[float], bool, int, int]:
    """One L-BFGS-B run: (objective, θ, success, iterations, evaluations)."""
    with np.errstate(all="ignore"):
        res = minimize(_FG, np.asarray(x0, dtype=float), jac=True, method="L-BFGS-B", options=_OPTIONS)
    f = float(res.fun) if np.all(np.isfinite(res.x)) and math.isfinite(res.fun) else math.inf
    return f, [float(v) for v in res.x], bool(res.success), int(res.nit), int(res.nfev)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", help="folder with points.csv and starts.csv (fit_bench --write-inputs DIR)")
    p.add_argument("--delta", type=float, default=1e-3, help="Huber δ on log residuals (default 1e-3)")
    p.add_argument("--maxiter", type=int, default=500, help="iterations per start (joint.rs: 500)")
    p.add_argument("--maxcor", type=int, default=10, help="L-BFGS memory (joint.rs: 10)")
    p.add_argument("--gtol", type=float, default=1e-9, help="projected-gradient tolerance (joint.rs: 1e-9)")
    p.add_argument("--ftol", type=float, default=1e-13, help="relative-decrease tolerance (joint.rs: 1e-13)")
    p.add_argument("--scipy-defaults", action="store_true",
                   help="use scipy's default maxiter, maxcor, gtol and ftol instead of joint.rs's")
    p.add_argument("--limit", type=int, default=0, help="only the first N starts (0: all)")
    p.add_argument("--jobs", type=int, default=1,
                   help="worker processes (default 1: one start after another, as Chinchilla's reproduction)")
    args = p.parse_args()

    points_path = os.path.join(args.inputs, "points.csv")
    ln_n, ln_d, ln_l = read_points(points_path)
    starts = read_starts(os.path.join(args.inputs, "starts.csv"))
    if args.limit > 0:
        starts = starts[: args.limit]
    options = {} if args.scipy_defaults else {
        "maxiter": args.maxiter, "maxcor": args.maxcor, "gtol": args.gtol, "ftol": args.ftol,
    }
    _, huber_sum = make_objective(ln_n, ln_d, ln_l, args.delta)
    print(f"{len(starts)} starts on {len(ln_l)} points, L-BFGS-B {options or 'scipy defaults'}, "
          f"{args.jobs} process(es)", file=sys.stderr)

    t0 = time.perf_counter()
    if args.jobs == 1:
        init_worker(points_path, args.delta, options)
        results = []
        for i, x0 in enumerate(starts):
            results.append(run_start(x0))
            if (i + 1) % 500 == 0:
                print(f"  {i + 1} starts, {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    else:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(args.jobs, init_worker, (points_path, args.delta, options)) as pool:
            results = pool.map(run_start, [list(x) for x in starts], chunksize=16)
    seconds = time.perf_counter() - t0

    fs = np.array([r[0] for r in results])
    best_i = int(np.argmin(fs))
    best_f, best_x = fs[best_i], np.array(results[best_i][1])
    a, b, e, alpha, beta = best_x
    out = {
        "kind": "scipy_reference",
        "scipy": scipy.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "points": int(len(ln_l)),
        "starts": int(len(starts)),
        "jobs": args.jobs,
        "options": options or "scipy defaults",
        "huber_delta": args.delta,
        "seconds": round(seconds, 4),
        "converged": sum(r[2] for r in results),
        "starts_at_best": int(np.sum(fs <= best_f + 1e-6 * abs(best_f) + 1e-15)),
        "iterations": sum(r[3] for r in results),
        "evaluations": sum(r[4] for r in results),
        "best": {
            "start": best_i,
            "objective": huber_sum(best_x),
            "theta": [float(v) for v in best_x],
            "e": math.exp(e),
            "a": math.exp(a),
            "b": math.exp(b),
            "alpha": float(alpha),
            "beta": float(beta),
        },
    }
    print(f"{seconds:.1f} s; best Σ Huber {out['best']['objective']:.10e} from start {best_i}", file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
