//! Fused operations with a hand-written backward pass: LayerNorm, the exact GELU, the causal
//! softmax of attention and the cross-entropy of logits against target tokens.
//!
//! # Why
//!
//! Under autodiff, burn 0.22 decomposes `layer_norm` into nine tensor operations (mean,
//! subtract, square, mean, add, square root, divide, scale, shift), the attention weights into
//! about twelve (scale, mask, max, subtract, exp, sum, divide, ...) and the loss into
//! log-softmax, gather and negation, each with its own allocation and its own backward node;
//! its GELU calls libm's scalar `erff` per element. On the small models of a scaling sweep
//! those element-wise passes cost about as much as the matrix products. Here each is one pass
//! over the rows forward and one backward:
//!
//! * LayerNorm, `y = (x − μ)/√(σ² + ε) · γ + β` over the last axis, with
//!   `dx = r · (g − mean(g) − x̂ · mean(g · x̂))`, `g = dy · γ`, `x̂ = (x − μ) · r`,
//!   `r = 1/√(σ² + ε)`, and `dγ = Σ dy · x̂`, `dβ = Σ dy` over the rows;
//! * GELU, `x · Φ(x)`, with `dx = dy · (Φ(x) + x · φ(x))`;
//! * causal softmax, `p = softmax(scale · s)` over keys `j ≤ i` of query `i`, with
//!   `ds = scale · p ⊙ (dp − Σ p ⊙ dp)`;
//! * cross-entropy, `ℓ = logsumexp(z) − z_target` per row, with
//!   `dz = dℓ · (softmax(z) − onehot(target))`.
//!
//! # Where they run
//!
//! The kernels are written for the Flex (CPU) backend, over the raw `f32` buffers, and
//! threaded over rows with rayon. They are an extension of burn's backend
//! ([`burn::backend::backend_extension`]) for `Flex` and `Autodiff<Flex>`; on every other
//! backend (wgpu, CUDA, NdArray) and for other float types, [`layer_norm`], [`gelu`],
//! [`causal_softmax`] and [`cross_entropy`] use burn's composed operations, so the model
//! behaves the same everywhere. Without this crate's `flex` feature (an embedder building for wgpu only) the
//! fused path is compiled out.
//!
//! # Checked
//!
//! `tests/fused.rs`: outputs and gradients against the composed operations (to float
//! tolerance), gradients against central finite differences, and a whole model's loss and
//! gradients with and without fusion.

use burn::tensor::{Int, Tensor};

/// Whether the fused kernels serve tensors on `device` (Flex, with or without autodiff).
pub fn available(device: &burn::tensor::Device) -> bool {
    #[cfg(feature = "flex")]
    {
        matches!(device.clone().inner().as_dispatch(), burn::backend::DispatchDevice::Flex(_))
            && FUSION.with(|f| f.get())
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = device;
        false
    }
}

std::thread_local! {
    static FUSION: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

/// Runs `f` with the fused kernels switched off on this thread (for comparisons and
/// benchmarks: the composed operations then run on every backend).
pub fn without_fusion<T>(f: impl FnOnce() -> T) -> T {
    let before = FUSION.with(|c| c.replace(false));
    let out = f();
    FUSION.with(|c| c.set(before));
    out
}

/// LayerNorm over the last axis: `(x − mean)/√(var + eps) · gamma + beta` (biased variance,
/// as burn's `LayerNorm`).
pub fn layer_norm<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Option<Tensor<1>>,
    eps: f64,
) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if available(&x.device()) && x.dtype() == burn::tensor::DType::F32 {
        let beta = beta.unwrap_or_else(|| gamma.zeros_like());
        let out = <burn::backend::Dispatch as flex::FusedOps>::fused_layer_norm(
            x.into_dispatch(),
            gamma.into_dispatch(),
            beta.into_dispatch(),
            eps,
        );
        return Tensor::from_dispatch(out);
    }
    burn::tensor::module::layer_norm(x, gamma, beta, eps)
}

/// LayerNorm of stacked replicas: `x` `[G, rows, d]` is normalised over its last axis and
/// group `g` takes gain `gamma[g]` and shift `beta[g]` (`[G, d]`), as G separate LayerNorms
/// would. One fused pass on the CPU backend; elsewhere the composed normalisation, then the
/// per-group affine map.
pub fn layer_norm_grouped(
    x: Tensor<3>,
    gamma: Tensor<2>,
    beta: Option<Tensor<2>>,
    eps: f64,
) -> Tensor<3> {
    #[cfg(feature = "flex")]
    if available(&x.device()) && x.dtype() == burn::tensor::DType::F32 {
        let beta = beta.unwrap_or_else(|| gamma.zeros_like());
        let out = <burn::backend::Dispatch as flex::FusedOps>::fused_layer_norm(
            x.into_dispatch(),
            gamma.into_dispatch(),
            beta.into_dispatch(),
            eps,
        );
        return Tensor::from_dispatch(out);
    }
    let d = x.dims()[2];
    let ones = Tensor::<1>::ones([d], &x.device());
    let y = burn::tensor::module::layer_norm(x, ones, None, eps) * gamma.unsqueeze_dim::<3>(1);
    match beta {
        Some(b) => y + b.unsqueeze_dim::<3>(1),
        None => y,
    }
}

/// Causal attention weights: `softmax(scale · scores)` over the last axis with key `j` hidden
/// from query `i` when `j > i`. `scores`: `[batch, heads, t, t]` (queries × keys of the same
/// positions, as in training and evaluation without a cache).
pub fn causal_softmax(scores: Tensor<4>, scale: f64) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if available(&scores.device()) && scores.dtype() == burn::tensor::DType::F32 {
        let out = <burn::backend::Dispatch as flex::FusedOps>::fused_causal_softmax(
            scores.into_dispatch(),
            scale,
        );
        return Tensor::from_dispatch(out);
    }
    let [b, h, t, s] = scores.dims();
    let device = scores.device();
    let rows = Tensor::<1, Int>::arange(0..t as i64, &device).reshape([t, 1]);
    let cols = Tensor::<1, Int>::arange(0..s as i64, &device).reshape([1, s]);
    let mask = cols.greater(rows).unsqueeze::<4>().expand([b, h, t, s]);
    let scores = scores.mul_scalar(scale).mask_fill(mask, f32::NEG_INFINITY);
    burn::tensor::activation::softmax(scores, 3)
}

/// The exact GELU, `x · Φ(x)` (the erf form, as GPT-2 and burn's `gelu`).
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if available(&x.device()) && x.dtype() == burn::tensor::DType::F32 {
        let out = <burn::backend::Dispatch as flex::FusedOps>::fused_gelu(x.into_dispatch());
        return Tensor::from_dispatch(out);
    }
    burn::tensor::activation::gelu(x)
}

/// Cross-entropy (nats) of each row of `logits` `[rows, vocab]` against `targets` `[rows]`:
/// `logsumexp(z) − z[target]`, shape `[rows]`.
pub fn cross_entropy(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    #[cfg(feature = "flex")]
    if available(&logits.device()) && logits.dtype() == burn::tensor::DType::F32 {
        let out = <burn::backend::Dispatch as flex::FusedOps>::fused_cross_entropy(
            logits.into_dispatch(),
            targets.into_dispatch(),
        );
        return Tensor::from_dispatch(out);
    }
    let log_probs = burn::tensor::activation::log_softmax(logits, 1);
    log_probs.gather(1, targets.unsqueeze_dim::<2>(1)).squeeze_dim::<1>(1).neg()
}

/// The row kernels over plain slices (row-major, rows of `d` values).
pub mod kernels {
    use rayon::prelude::*;

    /// Rows per parallel task: enough work to amortise the task, few enough to balance.
    fn chunk_rows(d: usize) -> usize {
        (16_384 / d.max(1)).max(1)
    }

    /// Mean and `1/√(var + eps)` of one row, in f64 accumulators.
    fn moments(row: &[f32], eps: f64) -> (f32, f32) {
        let n = row.len() as f64;
        let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = row.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
        (mean as f32, (1.0 / (var + eps).sqrt()) as f32)
    }

    /// LayerNorm forward: `y` from `x`, `gamma`, `beta` (each row of `d = gamma.len()`).
    pub fn layer_norm(x: &[f32], gamma: &[f32], beta: &[f32], eps: f64) -> Vec<f32> {
        let d = gamma.len();
        let mut y = vec![0.0f32; x.len()];
        let c = chunk_rows(d) * d;
        y.par_chunks_mut(c).zip(x.par_chunks(c)).for_each(|(yc, xc)| {
            for (yr, xr) in yc.chunks_exact_mut(d).zip(xc.chunks_exact(d)) {
                let (mean, r) = moments(xr, eps);
                for (((y, &x), &g), &b) in yr.iter_mut().zip(xr).zip(gamma).zip(beta) {
                    *y = (x - mean) * r * g + b;
                }
            }
        });
        y
    }

    /// LayerNorm backward: `(dx, dgamma, dbeta)` from `x`, `gamma` and `dy`.
    pub fn layer_norm_backward(
        x: &[f32],
        gamma: &[f32],
        dy: &[f32],
        eps: f64,
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let d = gamma.len();
        let mut dx = vec![0.0f32; x.len()];
        let c = chunk_rows(d) * d;
        let (dgamma, dbeta) = dx
            .par_chunks_mut(c)
            .zip(x.par_chunks(c).zip(dy.par_chunks(c)))
            .map(|(dxc, (xc, dyc))| {
                let mut dg = vec![0.0f64; d];
                let mut db = vec![0.0f64; d];
                let mut xhat = vec![0.0f32; d];
                for ((dxr, xr), dyr) in
                    dxc.chunks_exact_mut(d).zip(xc.chunks_exact(d)).zip(dyc.chunks_exact(d))
                {
                    let (mean, r) = moments(xr, eps);
                    let (mut mg, mut mgx) = (0.0f64, 0.0f64);
                    for (((((xh, &x), &dy), &ga), dgi), dbi) in xhat
                        .iter_mut()
                        .zip(xr)
                        .zip(dyr)
                        .zip(gamma)
                        .zip(dg.iter_mut())
                        .zip(db.iter_mut())
                    {
                        *xh = (x - mean) * r;
                        let g = f64::from(dy * ga);
                        mg += g;
                        mgx += g * f64::from(*xh);
                        *dgi += f64::from(dy) * f64::from(*xh);
                        *dbi += f64::from(dy);
                    }
                    let (mg, mgx) = ((mg / d as f64) as f32, (mgx / d as f64) as f32);
                    for (((o, &xh), &dy), &ga) in dxr.iter_mut().zip(&xhat).zip(dyr).zip(gamma) {
                        *o = r * (dy * ga - mg - xh * mgx);
                    }
                }
                (dg, db)
            })
            // Collected in chunk order and summed in that order, so that the parameter
            // gradients are the same bits whatever the thread count or scheduling (resumed
            // runs must match uninterrupted ones bit for bit).
            .collect::<Vec<_>>()
            .into_iter()
            .fold((vec![0.0; d], vec![0.0; d]), |(mut ga, mut ba), (gb, bb)| {
                ga.iter_mut().zip(gb).for_each(|(a, b)| *a += b);
                ba.iter_mut().zip(bb).for_each(|(a, b)| *a += b);
                (ga, ba)
            });
        let to32 = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect();
        (dx, to32(dgamma), to32(dbeta))
    }

    /// `e^x` in single precision without a libm call, so that loops over it vectorise:
    /// `x = n ln 2 + r` with `|r| ≤ ln 2 / 2`, `e^r` by Cephes' degree-6 polynomial (`expf`),
    /// `2^n` built in the exponent bits. Relative error below `2·10⁻⁷` over the clamped range
    /// (`tests::fast_exp_matches_libm`); `e^x` bottoms out near `10⁻³⁸` below `x = −87.3`.
    #[inline(always)]
    pub fn exp(x: f32) -> f32 {
        const LOG2E: f32 = std::f32::consts::LOG2_E;
        const LN2_HI: f32 = 0.693_359_4;
        const LN2_LO: f32 = -2.121_944_4e-4;
        const ROUND: f32 = 12_582_912.0; // 1.5 · 2^23: adding it rounds to the nearest integer
        let x = x.clamp(-87.3, 88.7);
        // t = 1.5·2^23 + n exactly, so n sits in t's low mantissa bits: no float-to-int cast.
        let t = x * LOG2E + ROUND;
        let n = t - ROUND;
        let r = x - n * LN2_HI - n * LN2_LO;
        let mut p = 1.987_569_2e-4f32;
        p = p * r + 1.398_2e-3;
        p = p * r + 8.333_452e-3;
        p = p * r + 4.166_579_6e-2;
        p = p * r + 1.666_666_5e-1;
        p = p * r + 5.000_000_1e-1;
        let er = p * r * r + r + 1.0;
        er * f32::from_bits(t.to_bits().wrapping_sub(0x4B40_0000 - 127) << 23)
    }

    /// `erf(x)` without a libm call (Abramowitz & Stegun 7.1.26 with [`exp`]): absolute error
    /// below `10⁻⁶`, a few `f32` ulps at 1 (`tests::fast_erf_matches_libm`).
    #[inline(always)]
    pub fn erf(x: f32) -> f32 {
        let a = x.abs();
        let t = 1.0 / (1.0 + 0.327_591_1 * a);
        let poly = t
            * (0.254_829_6
                + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
        let y = 1.0 - poly * exp(-a * a);
        y.copysign(x)
    }

    /// GELU forward, `x · Φ(x)`, `Φ(x) = (1 + erf(x/√2))/2`.
    pub fn gelu(x: &[f32]) -> Vec<f32> {
        let mut y = vec![0.0f32; x.len()];
        y.par_chunks_mut(16_384).zip(x.par_chunks(16_384)).for_each(|(yc, xc)| {
            for (o, &v) in yc.iter_mut().zip(xc) {
                *o = 0.5 * v * (1.0 + erf(v * std::f32::consts::FRAC_1_SQRT_2));
            }
        });
        y
    }

    /// GELU backward, `dy · (Φ(x) + x · φ(x))`.
    pub fn gelu_backward(x: &[f32], dy: &[f32]) -> Vec<f32> {
        const INV_SQRT_2PI: f32 = 0.398_942_3;
        let mut dx = vec![0.0f32; x.len()];
        dx.par_chunks_mut(16_384).zip(x.par_chunks(16_384).zip(dy.par_chunks(16_384))).for_each(
            |(oc, (xc, gc))| {
                for ((o, &v), &g) in oc.iter_mut().zip(xc).zip(gc) {
                    let cdf = 0.5 * (1.0 + erf(v * std::f32::consts::FRAC_1_SQRT_2));
                    let pdf = INV_SQRT_2PI * exp(-0.5 * v * v);
                    *o = g * (cdf + v * pdf);
                }
            },
        );
        dx
    }

    /// Causal softmax forward over rows of `t` scores, row `i` of each `t × t` block keeping
    /// keys `0..=i` (the rest get weight 0).
    pub fn causal_softmax(s: &[f32], t: usize, scale: f32) -> Vec<f32> {
        let mut p = vec![0.0f32; s.len()];
        p.par_chunks_mut(t * t).zip(s.par_chunks(t * t)).for_each(|(pb, sb)| {
            for (i, (pr, sr)) in pb.chunks_exact_mut(t).zip(sb.chunks_exact(t)).enumerate() {
                let (pr, sr) = (&mut pr[..=i], &sr[..=i]);
                let max = max_of(sr) * scale;
                for (o, &v) in pr.iter_mut().zip(sr) {
                    *o = exp(v * scale - max);
                }
                let inv = 1.0 / sum_of(pr);
                pr.iter_mut().for_each(|o| *o *= inv);
            }
        });
        p
    }

    /// Causal softmax backward: `ds = scale · p ⊙ (dp − Σ p ⊙ dp)` per row, from the forward's
    /// weights `p`.
    pub fn causal_softmax_backward(p: &[f32], dp: &[f32], t: usize, scale: f32) -> Vec<f32> {
        let mut ds = vec![0.0f32; p.len()];
        ds.par_chunks_mut(t * t).zip(p.par_chunks(t * t).zip(dp.par_chunks(t * t))).for_each(
            |(db, (pb, gb))| {
                for (i, ((dr, pr), gr)) in db
                    .chunks_exact_mut(t)
                    .zip(pb.chunks_exact(t))
                    .zip(gb.chunks_exact(t))
                    .enumerate()
                {
                    let (dr, pr, gr) = (&mut dr[..=i], &pr[..=i], &gr[..=i]);
                    let dot = dot(pr, gr);
                    for ((o, &pv), &g) in dr.iter_mut().zip(pr).zip(gr) {
                        *o = scale * pv * (g - dot);
                    }
                }
            },
        );
        ds
    }

    /// Lanes of the reductions below: eight independent accumulators, so that the loops
    /// vectorise (a single running sum is a serial dependency the compiler may not reorder).
    const LANES: usize = 8;

    /// The largest value of `z` (−∞ when empty).
    #[inline(always)]
    fn max_of(z: &[f32]) -> f32 {
        let mut acc = [f32::NEG_INFINITY; LANES];
        let mut chunks = z.chunks_exact(LANES);
        for c in &mut chunks {
            for (a, &v) in acc.iter_mut().zip(c) {
                *a = a.max(v);
            }
        }
        let tail = chunks.remainder().iter().copied().fold(f32::NEG_INFINITY, f32::max);
        acc.into_iter().fold(tail, f32::max)
    }

    /// `Σ z`, in [`LANES`] partial sums added in a fixed order.
    #[inline(always)]
    fn sum_of(z: &[f32]) -> f32 {
        let mut acc = [0.0f32; LANES];
        let mut chunks = z.chunks_exact(LANES);
        for c in &mut chunks {
            for (a, &v) in acc.iter_mut().zip(c) {
                *a += v;
            }
        }
        acc.into_iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
    }

    /// `Σ a ⊙ b`, in [`LANES`] partial sums.
    #[inline(always)]
    fn dot(a: &[f32], b: &[f32]) -> f32 {
        let mut acc = [0.0f32; LANES];
        let (mut ca, mut cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
        for (x, y) in (&mut ca).zip(&mut cb) {
            for ((s, &u), &v) in acc.iter_mut().zip(x).zip(y) {
                *s += u * v;
            }
        }
        let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(u, v)| u * v).sum();
        acc.into_iter().sum::<f32>() + tail
    }

    /// `Σ exp(z − shift)`, in [`LANES`] partial sums.
    #[inline(always)]
    fn sum_exp(z: &[f32], shift: f32) -> f32 {
        let mut acc = [0.0f32; LANES];
        let mut chunks = z.chunks_exact(LANES);
        for c in &mut chunks {
            for (a, &v) in acc.iter_mut().zip(c) {
                *a += exp(v - shift);
            }
        }
        acc.into_iter().sum::<f32>()
            + chunks.remainder().iter().map(|&v| exp(v - shift)).sum::<f32>()
    }

    /// `max + ln Σ exp(z − max)` of one row.
    fn log_sum_exp(z: &[f32]) -> f32 {
        let max = max_of(z);
        max + sum_exp(z, max).ln()
    }

    /// Cross-entropy forward: one loss per row of `vocab` logits.
    pub fn cross_entropy(z: &[f32], targets: &[i64], vocab: usize) -> Vec<f32> {
        z.par_chunks(vocab)
            .zip(targets.par_iter())
            .map(|(r, &t)| log_sum_exp(r) - r[t as usize])
            .collect()
    }

    /// Cross-entropy backward: `dz = dl · (softmax(z) − onehot(target))`, with each row's
    /// `logsumexp` recovered from its forward loss as `loss + z[target]`.
    pub fn cross_entropy_backward(
        z: &[f32],
        targets: &[i64],
        loss: &[f32],
        dl: &[f32],
        vocab: usize,
    ) -> Vec<f32> {
        let mut dz = vec![0.0f32; z.len()];
        dz.par_chunks_mut(vocab)
            .zip(z.par_chunks(vocab))
            .zip(targets.par_iter().zip(loss.par_iter().zip(dl.par_iter())))
            .for_each(|((dr, r), (&t, (&l, &g)))| {
                let lse = l + r[t as usize];
                for (o, &v) in dr.iter_mut().zip(r) {
                    *o = g * exp(v - lse);
                }
                dr[t as usize] -= g;
            });
        dz
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn fast_exp_matches_libm() {
            let mut worst = 0.0f64;
            let mut x = -87.0f32;
            while x < 88.0 {
                let (a, b) = (f64::from(super::exp(x)), f64::from(x).exp());
                worst = worst.max((a - b).abs() / b);
                x += 0.001_37;
            }
            assert!(worst < 2e-7, "relative error {worst:e}");
            assert_eq!(super::exp(-1000.0), super::exp(-87.3));
            assert!(super::exp(f32::NEG_INFINITY) < 1e-37);
        }

        #[test]
        fn fast_erf_matches_libm() {
            // std has no erf: the reference is its Taylor series in f64,
            // erf(x) = 2/√π Σ (−1)^k x^(2k+1) / (k! (2k+1)) for |x| ≤ 3, and 1 − erfc(x) from
            // erfc's asymptotic series beyond.
            fn reference(x: f64) -> f64 {
                let a = x.abs();
                let v = if a <= 3.0 {
                    let (mut term, mut sum, mut k) = (a, a, 0.0f64);
                    while term.abs() > 1e-18 * sum.abs() {
                        k += 1.0;
                        term *= -a * a / k;
                        sum += term / (2.0 * k + 1.0);
                    }
                    sum * 2.0 / std::f64::consts::PI.sqrt()
                } else {
                    let (mut term, mut sum) = (1.0f64, 1.0f64);
                    for k in 1..8 {
                        term *= -(2.0 * k as f64 - 1.0) / (2.0 * a * a);
                        sum += term;
                    }
                    1.0 - (-a * a).exp() / (a * std::f64::consts::PI.sqrt()) * sum
                };
                v.copysign(x)
            }
            let mut worst = 0.0f64;
            let mut x = -6.0f32;
            while x < 6.0 {
                worst = worst.max((f64::from(super::erf(x)) - reference(f64::from(x))).abs());
                x += 0.000_73;
            }
            assert!(worst < 1e-6, "absolute error {worst:e}");
        }
    }
}

#[cfg(feature = "flex")]
mod flex {
    //! The extension trait, its Flex kernels and its autodiff nodes.

    use burn::backend::autodiff::checkpoint::base::Checkpointer;
    use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::ops::FloatTensorOps;
    use burn::backend::tensor::{FloatTensor, IntTensor};
    use burn::backend::{Autodiff, Backend, Flex, TensorMetadata, backend_extension};
    use burn::tensor::{DType, Shape, TensorData};

    use super::kernels;

    /// Fused LayerNorm and cross-entropy, forward and backward.
    #[backend_extension(Flex, Autodiff)]
    pub trait FusedOps: Backend {
        /// Causal softmax of `[.., t, t]` attention scores times `scale`.
        fn fused_causal_softmax(scores: FloatTensor<Self>, scale: f64) -> FloatTensor<Self>;
        /// Its backward from the forward's weights `p` and their gradient `dp`.
        fn fused_causal_softmax_backward(
            p: FloatTensor<Self>,
            dp: FloatTensor<Self>,
            scale: f64,
        ) -> FloatTensor<Self>;
        /// The exact GELU.
        fn fused_gelu(x: FloatTensor<Self>) -> FloatTensor<Self>;
        /// `dy · GELU'(x)`.
        fn fused_gelu_backward(x: FloatTensor<Self>, dy: FloatTensor<Self>) -> FloatTensor<Self>;
        /// LayerNorm over the last axis.
        fn fused_layer_norm(
            x: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            beta: FloatTensor<Self>,
            eps: f64,
        ) -> FloatTensor<Self>;
        /// `(dx, dgamma, dbeta)` of LayerNorm.
        fn fused_layer_norm_backward(
            x: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            dy: FloatTensor<Self>,
            eps: f64,
        ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
        /// Per-row cross-entropy of `[rows, vocab]` logits against `[rows]` targets.
        fn fused_cross_entropy(
            logits: FloatTensor<Self>,
            targets: IntTensor<Self>,
        ) -> FloatTensor<Self>;
        /// Gradient of the per-row cross-entropy with respect to the logits, given the
        /// forward's per-row `loss`.
        fn fused_cross_entropy_backward(
            logits: FloatTensor<Self>,
            targets: IntTensor<Self>,
            loss: FloatTensor<Self>,
            grad: FloatTensor<Self>,
        ) -> FloatTensor<Self>;
    }

    /// The `f32` values of a Flex tensor, contiguous.
    fn values(t: &FloatTensor<Flex>) -> std::borrow::Cow<'_, [f32]> {
        match t.as_slice::<f32>() {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => std::borrow::Cow::Owned(
                t.to_contiguous().as_slice::<f32>().expect("contiguous f32").to_vec(),
            ),
        }
    }

    /// The targets of a Flex int tensor as `i64`.
    fn indices(t: &IntTensor<Flex>) -> Vec<i64> {
        let t = t.to_contiguous();
        match t.dtype() {
            DType::I64 => t.as_slice::<i64>().expect("contiguous").to_vec(),
            DType::I32 => {
                t.as_slice::<i32>().expect("contiguous").iter().map(|&v| i64::from(v)).collect()
            }
            other => {
                panic!("fused cross-entropy: targets of dtype {other:?} (expected i32 or i64)")
            }
        }
    }

    fn tensor(v: Vec<f32>, shape: Shape) -> FloatTensor<Flex> {
        Flex::float_from_data(TensorData::new(v, shape), &Default::default())
    }

    impl FusedOps for Flex {
        fn fused_causal_softmax(scores: FloatTensor<Self>, scale: f64) -> FloatTensor<Self> {
            let shape = scores.shape();
            let t = shape[shape.num_dims() - 1];
            tensor(kernels::causal_softmax(&values(&scores), t, scale as f32), shape)
        }

        fn fused_causal_softmax_backward(
            p: FloatTensor<Self>,
            dp: FloatTensor<Self>,
            scale: f64,
        ) -> FloatTensor<Self> {
            let shape = p.shape();
            let t = shape[shape.num_dims() - 1];
            tensor(
                kernels::causal_softmax_backward(&values(&p), &values(&dp), t, scale as f32),
                shape,
            )
        }

        fn fused_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
            tensor(kernels::gelu(&values(&x)), x.shape())
        }

        fn fused_gelu_backward(x: FloatTensor<Self>, dy: FloatTensor<Self>) -> FloatTensor<Self> {
            tensor(kernels::gelu_backward(&values(&x), &values(&dy)), x.shape())
        }

        fn fused_layer_norm(
            x: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            beta: FloatTensor<Self>,
            eps: f64,
        ) -> FloatTensor<Self> {
            // `gamma` `[d]`, or `[G, d]`: the rows of `x` fall into G equal, contiguous groups
            // (one per stacked replica), each with its own gain and shift.
            let (xv, gv, bv) = (values(&x), values(&gamma), values(&beta));
            let d = gamma.shape()[gamma.shape().num_dims() - 1];
            if gv.len() == d {
                return tensor(kernels::layer_norm(&xv, &gv, &bv, eps), x.shape());
            }
            let gx = (xv.len() / (gv.len() / d)).max(1);
            let y: Vec<f32> = xv
                .chunks(gx)
                .zip(gv.chunks(d).zip(bv.chunks(d)))
                .flat_map(|(xg, (g, b))| kernels::layer_norm(xg, g, b, eps))
                .collect();
            tensor(y, x.shape())
        }

        fn fused_layer_norm_backward(
            x: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            dy: FloatTensor<Self>,
            eps: f64,
        ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
            let (xv, gv, dyv) = (values(&x), values(&gamma), values(&dy));
            let d = gamma.shape()[gamma.shape().num_dims() - 1];
            if gv.len() == d {
                let (dx, dg, db) = kernels::layer_norm_backward(&xv, &gv, &dyv, eps);
                return (
                    tensor(dx, x.shape()),
                    tensor(dg, gamma.shape()),
                    tensor(db, gamma.shape()),
                );
            }
            let gx = (xv.len() / (gv.len() / d)).max(1);
            let (mut dx, mut dg, mut db) = (Vec::new(), Vec::new(), Vec::new());
            for ((xg, g), dyg) in xv.chunks(gx).zip(gv.chunks(d)).zip(dyv.chunks(gx)) {
                let (a, b, c) = kernels::layer_norm_backward(xg, g, dyg, eps);
                dx.extend(a);
                dg.extend(b);
                db.extend(c);
            }
            (tensor(dx, x.shape()), tensor(dg, gamma.shape()), tensor(db, gamma.shape()))
        }

        fn fused_cross_entropy(
            logits: FloatTensor<Self>,
            targets: IntTensor<Self>,
        ) -> FloatTensor<Self> {
            let shape = logits.shape();
            let (rows, vocab) = (shape[0], shape[1]);
            let l = kernels::cross_entropy(&values(&logits), &indices(&targets), vocab);
            tensor(l, Shape::from(vec![rows]))
        }

        fn fused_cross_entropy_backward(
            logits: FloatTensor<Self>,
            targets: IntTensor<Self>,
            loss: FloatTensor<Self>,
            grad: FloatTensor<Self>,
        ) -> FloatTensor<Self> {
            let shape = logits.shape();
            let dz = kernels::cross_entropy_backward(
                &values(&logits),
                &indices(&targets),
                &values(&loss),
                &values(&grad),
                shape[1],
            );
            tensor(dz, shape)
        }
    }

    /// The LayerNorm node: saves `x` and `gamma`, recomputes the row moments backward.
    #[derive(Debug)]
    struct LayerNormNode;

    impl<B: Backend + FusedOps> Backward<B, 3> for LayerNormNode {
        type State = (FloatTensor<B>, FloatTensor<B>, f64);

        fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
            let (x, gamma, eps) = ops.state;
            let dy = grads.consume::<B>(&ops.node);
            let (dx, dg, db) = B::fused_layer_norm_backward(x, gamma, dy, eps);
            let [px, pg, pb] = ops.parents;
            for (parent, g) in [(px, dx), (pg, dg), (pb, db)] {
                if let Some(node) = parent {
                    grads.register::<B>(node.id, g);
                }
            }
        }
    }

    /// The causal-softmax node: saves its output (the weights) and the scale.
    #[derive(Debug)]
    struct CausalSoftmaxNode;

    impl<B: Backend + FusedOps> Backward<B, 1> for CausalSoftmaxNode {
        type State = (FloatTensor<B>, f64);

        fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let (p, scale) = ops.state;
            let dp = grads.consume::<B>(&ops.node);
            let [parent] = ops.parents;
            if let Some(node) = parent {
                grads.register::<B>(node.id, B::fused_causal_softmax_backward(p, dp, scale));
            }
        }
    }

    /// The GELU node: saves its input.
    #[derive(Debug)]
    struct GeluNode;

    impl<B: Backend + FusedOps> Backward<B, 1> for GeluNode {
        type State = FloatTensor<B>;

        fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let dy = grads.consume::<B>(&ops.node);
            let [parent] = ops.parents;
            if let Some(node) = parent {
                grads.register::<B>(node.id, B::fused_gelu_backward(ops.state, dy));
            }
        }
    }

    /// The cross-entropy node: saves the logits, the targets and the per-row losses.
    #[derive(Debug)]
    struct CrossEntropyNode;

    impl<B: Backend + FusedOps> Backward<B, 1> for CrossEntropyNode {
        type State = (FloatTensor<B>, IntTensor<B>, FloatTensor<B>);

        fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let (logits, targets, loss) = ops.state;
            let dl = grads.consume::<B>(&ops.node);
            let [parent] = ops.parents;
            if let Some(node) = parent {
                grads.register::<B>(
                    node.id,
                    B::fused_cross_entropy_backward(logits, targets, loss, dl),
                );
            }
        }
    }

    impl<B: Backend + FusedOps, C: CheckpointStrategy> FusedOps for Autodiff<B, C> {
        fn fused_causal_softmax(scores: FloatTensor<Self>, scale: f64) -> FloatTensor<Self> {
            let prep = CausalSoftmaxNode.prepare::<C>([scores.node()]).compute_bound().stateful();
            let sp = scores.into_primitive();
            match prep {
                OpsKind::Tracked(prep) => {
                    let p = B::fused_causal_softmax(sp, scale);
                    prep.finish((p.clone(), scale), p)
                }
                OpsKind::UnTracked(prep) => prep.finish(B::fused_causal_softmax(sp, scale)),
            }
        }

        fn fused_causal_softmax_backward(
            p: FloatTensor<Self>,
            dp: FloatTensor<Self>,
            scale: f64,
        ) -> FloatTensor<Self> {
            let ds =
                B::fused_causal_softmax_backward(p.into_primitive(), dp.into_primitive(), scale);
            FloatTensor::<Self>::new(ds)
        }

        fn fused_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
            let prep = GeluNode.prepare::<C>([x.node()]).compute_bound().stateful();
            let xp = x.into_primitive();
            match prep {
                OpsKind::Tracked(prep) => {
                    let y = B::fused_gelu(xp.clone());
                    prep.finish(xp, y)
                }
                OpsKind::UnTracked(prep) => prep.finish(B::fused_gelu(xp)),
            }
        }

        fn fused_gelu_backward(x: FloatTensor<Self>, dy: FloatTensor<Self>) -> FloatTensor<Self> {
            FloatTensor::<Self>::new(B::fused_gelu_backward(
                x.into_primitive(),
                dy.into_primitive(),
            ))
        }

        fn fused_layer_norm(
            x: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            beta: FloatTensor<Self>,
            eps: f64,
        ) -> FloatTensor<Self> {
            let prep = LayerNormNode
                .prepare::<C>([x.node(), gamma.node(), beta.node()])
                .compute_bound()
                .stateful();
            let (xp, gp, bp) = (x.into_primitive(), gamma.into_primitive(), beta.into_primitive());
            match prep {
                OpsKind::Tracked(prep) => {
                    let y = B::fused_layer_norm(xp.clone(), gp.clone(), bp, eps);
                    prep.finish((xp, gp, eps), y)
                }
                OpsKind::UnTracked(prep) => prep.finish(B::fused_layer_norm(xp, gp, bp, eps)),
            }
        }

        fn fused_layer_norm_backward(
            x: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            dy: FloatTensor<Self>,
            eps: f64,
        ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
            // Not differentiated again: the results are constants of the graph.
            let (dx, dg, db) = B::fused_layer_norm_backward(
                x.into_primitive(),
                gamma.into_primitive(),
                dy.into_primitive(),
                eps,
            );
            (
                FloatTensor::<Self>::new(dx),
                FloatTensor::<Self>::new(dg),
                FloatTensor::<Self>::new(db),
            )
        }

        fn fused_cross_entropy(
            logits: FloatTensor<Self>,
            targets: IntTensor<Self>,
        ) -> FloatTensor<Self> {
            let prep = CrossEntropyNode.prepare::<C>([logits.node()]).compute_bound().stateful();
            let z = logits.into_primitive();
            match prep {
                OpsKind::Tracked(prep) => {
                    let l = B::fused_cross_entropy(z.clone(), targets.clone());
                    prep.finish((z, targets, l.clone()), l)
                }
                OpsKind::UnTracked(prep) => prep.finish(B::fused_cross_entropy(z, targets)),
            }
        }

        fn fused_cross_entropy_backward(
            logits: FloatTensor<Self>,
            targets: IntTensor<Self>,
            loss: FloatTensor<Self>,
            grad: FloatTensor<Self>,
        ) -> FloatTensor<Self> {
            FloatTensor::<Self>::new(B::fused_cross_entropy_backward(
                logits.into_primitive(),
                targets,
                loss.into_primitive(),
                grad.into_primitive(),
            ))
        }
    }
}
