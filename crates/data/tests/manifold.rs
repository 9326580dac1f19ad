//! Manifold data: points on the manifold, the rotation, the target's smoothness, and the
//! intrinsic dimension recovered from the points.

mod common;

use common::assert_close;
use scalinglab_data::{HolderTarget, Manifold, ManifoldConfig};

fn config(manifold: Manifold, ambient_dim: usize, noise_std: f64, s: f64) -> ManifoldConfig {
    ManifoldConfig {
        manifold,
        ambient_dim,
        noise_std,
        target: HolderTarget { smoothness: s, terms: 32 },
        seed: 3,
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn frame_is_orthonormal() {
    let data = config(Manifold::Torus { dim: 3 }, 40, 0.0, 1.0).build().unwrap();
    let q = data.frame();
    assert_eq!((q.len(), q[0].len()), (6, 40));
    for i in 0..6 {
        for j in 0..6 {
            let want = if i == j { 1.0 } else { 0.0 };
            assert_close(dot(&q[i], &q[j]), want, 1e-12, &format!("(QᵀQ)[{i}][{j}]"));
        }
    }
    // D = m: a full orthogonal matrix.
    let square = config(Manifold::Sphere { dim: 4 }, 5, 0.0, 1.0).build().unwrap();
    let x = square.embed(&[0.1, -0.2, 0.3, 0.4, -0.5]);
    assert_close(dot(&x, &x), 0.55, 1e-12, "rotation keeps norms");
}

#[test]
fn points_lie_on_the_manifold() {
    for manifold in [Manifold::Sphere { dim: 3 }, Manifold::Torus { dim: 2 }] {
        let data = config(manifold, 30, 0.0, 0.7).build().unwrap();
        let samples = data.sample(500, 1);
        assert_eq!((samples.len(), samples.ambient_dim), (500, 30));
        for i in 0..samples.len() {
            let x = samples.point(i);
            let y = data.project(x);
            let m = manifold.embedding_dim();
            // The inverse rotation recovers the clean point.
            for (a, b) in y.iter().zip(&samples.intrinsic[i * m..(i + 1) * m]) {
                assert_close(*a, *b, 1e-12, "Qᵀx = y");
            }
            // x lies in the span of Q: nothing is left after projecting back.
            let back = data.embed(&y);
            let residual: f64 = x.iter().zip(&back).map(|(a, b)| (a - b).powi(2)).sum();
            assert!(residual < 1e-24, "residual {residual}");
            match manifold {
                Manifold::Sphere { .. } => assert_close(dot(&y, &y), 1.0, 1e-12, "|y|² on S³"),
                Manifold::Torus { .. } => {
                    for c in y.chunks(2) {
                        assert_close(dot(c, c), 1.0, 1e-12, "each circle of T²");
                    }
                }
            }
        }
    }
}

#[test]
fn sphere_points_are_uniform() {
    // Uniform on S^d ⊂ R^(d+1): E[y] = 0 and E[y_i²] = 1/(d + 1).
    let data = config(Manifold::Sphere { dim: 2 }, 10, 0.0, 1.0).build().unwrap();
    let n = 20_000;
    let samples = data.sample(n, 5);
    for i in 0..3 {
        let coord: Vec<f64> = samples.intrinsic.chunks(3).map(|y| y[i]).collect();
        let mean = coord.iter().sum::<f64>() / n as f64;
        let second = coord.iter().map(|v| v * v).sum::<f64>() / n as f64;
        // sd of y_i is 1/√3; of y_i², √(E y⁴ − 1/9) = √(1/5 − 1/9) ≈ 0.30.
        assert_close(mean, 0.0, 5.0 * (1.0 / 3.0f64).sqrt() / (n as f64).sqrt(), "E[y_i]");
        assert_close(second, 1.0 / 3.0, 5.0 * 0.30 / (n as f64).sqrt(), "E[y_i²]");
    }
    // Targets are centred and scaled.
    let mean = samples.targets.iter().sum::<f64>() / n as f64;
    let var = samples.targets.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / n as f64;
    assert!(mean.abs() < 0.05 && (var - 1.0).abs() < 0.1, "mean {mean}, variance {var}");
}

#[test]
fn noise_has_the_requested_variance() {
    let sigma = 0.05;
    let data = config(Manifold::Sphere { dim: 2 }, 200, sigma, 1.0).build().unwrap();
    let samples = data.sample(100, 2);
    // Residual off the clean point: D σ² per point on average.
    let mut total = 0.0;
    for i in 0..samples.len() {
        let clean = data.embed(&samples.intrinsic[i * 3..(i + 1) * 3]);
        total += samples.point(i).iter().zip(&clean).map(|(a, b)| (a - b).powi(2)).sum::<f64>();
    }
    let per_coordinate = total / (100.0 * 200.0);
    assert_close(
        per_coordinate,
        sigma * sigma,
        5.0 * sigma * sigma * (2.0f64 / 20_000.0).sqrt(),
        "σ²",
    );
}

#[test]
fn seeded_and_deterministic() {
    let c = config(Manifold::Torus { dim: 2 }, 16, 0.01, 0.5);
    let a = c.build().unwrap().sample(50, 1);
    assert_eq!(a, c.build().unwrap().sample(50, 1));
    assert_ne!(a, c.build().unwrap().sample(50, 2), "another sample seed, other points");
    let other = ManifoldConfig { seed: 4, ..c.clone() }.build().unwrap();
    assert_ne!(other.frame(), c.build().unwrap().frame(), "another seed, another rotation");
}

#[test]
fn target_has_holder_exponent_s_at_its_kinks() {
    // Along a geodesic γ through a kink point p, the symmetric second difference
    // f(γ(t)) + f(γ(−t)) − 2 f(p) ≈ 2 a |⟨w, u⟩|^s t^s: its log-log slope is s (the smooth
    // terms contribute O(t²)).
    for s in [0.3, 0.6, 1.0] {
        let data = config(Manifold::Sphere { dim: 3 }, 20, 0.0, s).build().unwrap();
        let term = &data.terms()[0];
        let p = &term.anchor;
        // Unit tangent at p along w: u = (w − ⟨w, p⟩ p)/|…|.
        let wp = dot(&term.direction, p);
        let mut u: Vec<f64> = term.direction.iter().zip(p).map(|(w, pk)| w - wp * pk).collect();
        let norm = dot(&u, &u).sqrt();
        u.iter_mut().for_each(|v| *v /= norm);
        let gamma = |t: f64| -> Vec<f64> {
            p.iter().zip(&u).map(|(pk, uk)| pk * t.cos() + uk * t.sin()).collect()
        };
        let second = |t: f64| {
            (data.target(&gamma(t)) + data.target(&gamma(-t)) - 2.0 * data.target(p)).abs()
        };
        let (t1, t2) = (1e-7, 1e-5);
        let slope = (second(t2) / second(t1)).ln() / (t2 / t1).ln();
        assert_close(slope, s, 0.03, &format!("local Hölder exponent for s = {s}"));
    }
}

/// TwoNN (Facco et al. 2017): μ = r₂/r₁ follows Pareto(d), so d̂ = n / Σ ln μ_i.
fn two_nn(points: &[f64], dim: usize) -> f64 {
    let n = points.len() / dim;
    let mut sum = 0.0;
    for i in 0..n {
        let (mut r1, mut r2) = (f64::INFINITY, f64::INFINITY);
        let xi = &points[i * dim..(i + 1) * dim];
        for j in 0..n {
            if j == i {
                continue;
            }
            let d2: f64 =
                xi.iter().zip(&points[j * dim..(j + 1) * dim]).map(|(a, b)| (a - b).powi(2)).sum();
            if d2 < r1 {
                r2 = r1;
                r1 = d2;
            } else if d2 < r2 {
                r2 = d2;
            }
        }
        sum += 0.5 * (r2 / r1).ln();
    }
    n as f64 / sum
}

#[test]
fn intrinsic_dimension_is_recovered() {
    // d̂ has a relative standard error of about 1/√n ≈ 2.6% with n = 1500.
    for (manifold, d) in [(Manifold::Sphere { dim: 2 }, 2.0), (Manifold::Torus { dim: 3 }, 3.0)] {
        let data = config(manifold, 32, 0.0, 1.0).build().unwrap();
        let samples = data.sample(1500, 9);
        let estimate = two_nn(&samples.points, 32);
        assert_close(estimate, d, 0.15 * d, &format!("TwoNN dimension of {manifold:?}"));
    }
}

#[test]
fn token_encoding_and_patches() {
    let data = config(Manifold::Sphere { dim: 2 }, 16, 0.0, 1.0).build().unwrap();
    let r = data.default_range();
    assert_close(r, 4.0 * (1.0f64 / 16.0).sqrt(), 1e-15, "4 √(R²/D)");
    let samples = data.sample(200, 3);
    let bins = 64;
    let width = 2.0 * r / bins as f64;
    for i in 0..samples.len() {
        let x = samples.point(i);
        let mut tokens = Vec::new();
        data.encode_tokens(x, bins, None, &mut tokens);
        assert_eq!(tokens.len(), 16);
        for (&t, &v) in tokens.iter().zip(x) {
            assert!((t as usize) < bins);
            if v.abs() < r {
                assert!((data.decode_token(t, bins, None) - v).abs() <= width / 2.0 + 1e-12);
            }
        }
    }
    let mut edge = Vec::new();
    data.encode_tokens(&[-10.0, -r, 0.0, r, 10.0], 4, None, &mut edge);
    assert_eq!(edge, vec![0, 0, 2, 3, 3]);
    let p = data.patches(&[1.0, 2.0, 3.0, 4.0, 5.0], 2);
    assert_eq!(p, vec![1.0, 2.0, 3.0, 4.0, 5.0, 0.0]);
}

#[test]
fn invalid_configs_name_the_field() {
    let msg = |c: ManifoldConfig| c.validate().unwrap_err().to_string();
    assert_eq!(
        msg(config(Manifold::Torus { dim: 3 }, 5, 0.0, 1.0)),
        "ambient_dim = 5 must be at least the embedding dimension 6 of the manifold"
    );
    assert_eq!(
        msg(config(Manifold::Sphere { dim: 2 }, 5, 0.0, 1.5)),
        "target.smoothness = 1.5 must be in (0, 1]"
    );
    assert_eq!(
        msg(config(Manifold::Sphere { dim: 0 }, 5, 0.0, 1.0)),
        "manifold.dim = 0 must be at least 1"
    );
    assert_eq!(
        msg(config(Manifold::Sphere { dim: 2 }, 5, -0.1, 1.0)),
        "noise_std = -0.1 must be finite and ≥ 0"
    );
    let c: ManifoldConfig = toml::from_str(
        "ambient_dim = 64\n[manifold]\nkind = \"sphere\"\ndim = 4\n[target]\nsmoothness = 0.5\n",
    )
    .unwrap();
    assert_eq!(c.target.terms, 64);
    assert_eq!(c.noise_std, 0.0);
    c.build().unwrap();
}
