//! The reference learner of `reproduce manifolds`: k-NN regression recovers the minimax
//! exponent 2s/(2s + d) of the dyadic-bump target (s = 1/2: 1/3 at d = 2, 1/5 at d = 4) from
//! noisy labels, scores the clean targets, and refuses bad settings by name.

use scalinglab_data::{HolderTarget, Manifold, ManifoldConfig};
use scalinglab_training::knn_regression;

fn slope(xs: &[f64], ys: &[f64]) -> f64 {
    let (lx, ly): (Vec<f64>, Vec<f64>) = xs.iter().zip(ys).map(|(x, y)| (x.ln(), y.ln())).unzip();
    let mx = lx.iter().sum::<f64>() / lx.len() as f64;
    let my = ly.iter().sum::<f64>() / ly.len() as f64;
    let sxy: f64 = lx.iter().zip(&ly).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = lx.iter().map(|x| (x - mx).powi(2)).sum();
    -sxy / sxx
}

#[test]
fn knn_recovers_the_minimax_exponent_of_the_bump_target() {
    let s = 0.5;
    let sizes = [500usize, 1000, 2000, 4000, 8000];
    for (d, tol) in [(2usize, 0.06), (4, 0.06)] {
        // Three target draws: one draw's exponent scatters by about ±0.03.
        let mut mean = vec![0.0; sizes.len()];
        for seed in 1..=3 {
            let data = ManifoldConfig {
                manifold: Manifold::Sphere { dim: d },
                ambient_dim: 16,
                noise_std: 0.0,
                target: HolderTarget::bumps(s),
                seed,
            }
            .build()
            .unwrap();
            for (i, &n) in sizes.iter().enumerate() {
                let r = knn_regression(&data, n, 2.0, 1000, 1500, 0).unwrap();
                assert!(r.test_mse < r.initial_test_mse, "{r:?}");
                // The validation labels carry the noise (σ² = 4), the test targets do not.
                assert!(r.val_mse > 3.0 + r.test_mse, "{r:?}");
                mean[i] += r.test_mse / 3.0;
            }
        }
        let xs: Vec<f64> = sizes.iter().map(|&n| n as f64).collect();
        let alpha = slope(&xs, &mean);
        let theory = 2.0 * s / (2.0 * s + d as f64);
        eprintln!("d = {d}: k-NN exponent {alpha:.3}, theory {theory:.3}, errors {mean:?}");
        assert!((alpha - theory).abs() < tol, "d = {d}: {alpha} vs {theory}");
    }
}

#[test]
fn knn_refuses_bad_settings_by_name() {
    let data = ManifoldConfig {
        manifold: Manifold::Sphere { dim: 1 },
        ambient_dim: 4,
        noise_std: 0.0,
        target: HolderTarget::bumps(0.5),
        seed: 1,
    }
    .build()
    .unwrap();
    for sigma in [-1.0, f64::NAN, 1e300] {
        let e = knn_regression(&data, 10, sigma, 10, 10, 0).unwrap_err().to_string();
        assert!(e.contains("label_noise"), "{e}");
    }
    let e = knn_regression(&data, 0, 0.0, 10, 10, 0).unwrap_err().to_string();
    assert!(e.contains("n_train"), "{e}");
    // Fewer points than the largest k: the grid stops at n.
    let r = knn_regression(&data, 3, 0.0, 10, 10, 0).unwrap();
    assert!(r.k <= 3);
}
