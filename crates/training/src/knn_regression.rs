//! k-nearest-neighbour regression on manifold data: the reference learner of
//! `scalinglab reproduce manifolds`.
//!
//! It only averages labels locally, so on an s-Hölder target (`s ≤ 1`) with label noise and k
//! chosen well, its error falls at the minimax rate `n^(−2s/(2s+d))` on a d-dimensional
//! manifold (Kpotufe 2011). Run on the same points and noisy labels as the network
//! ([`crate::train_regressor`]), it measures the rate the *target* shows at the sizes of a grid,
//! so that a network's exponent can be read against it: a network that beats it has found
//! structure in the target that local averaging does not use.
//!
//! The learner sees the ambient coordinates x, as the network does. k is chosen from
//! [`K_GRID`] by the validation error (noisy labels); the reported error is on the test points
//! against the clean targets, the excess risk.

use scalinglab_data::ManifoldData;
use serde::{Deserialize, Serialize};

use crate::TrainingError;
use crate::regression::{TEST_SEED, VALIDATION_SEED, check_label_noise, labels, train_seed};

/// The neighbour counts tried.
pub const K_GRID: [usize; 12] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048];

/// The outcome of one k-NN regression.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KnnResult {
    /// Training points n.
    pub n_train: usize,
    /// The k with the lowest validation error.
    pub k: usize,
    /// Test mean squared error against the clean targets at that k.
    pub test_mse: f64,
    /// The validation error (noisy labels) at that k.
    pub val_mse: f64,
    /// The test error of predicting 0 (the targets' mean): the plateau.
    pub initial_test_mse: f64,
}

/// For every query, the running mean of its nearest training labels' values at each k of
/// `ks`: squared errors against `truth`, summed over queries, one sum per k.
fn errors_by_k(
    train: &[f64],
    train_labels: &[f64],
    queries: &[f64],
    truth: &[f64],
    dim: usize,
    ks: &[usize],
) -> Vec<f64> {
    let n = train_labels.len();
    let kmax = *ks.last().expect("k grid");
    let mut sums = vec![0.0; ks.len()];
    let mut dist: Vec<(f64, u32)> = Vec::with_capacity(n);
    for (q, &t) in queries.chunks_exact(dim).zip(truth) {
        dist.clear();
        dist.extend(train.chunks_exact(dim).enumerate().map(|(i, x)| {
            (x.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum::<f64>(), i as u32)
        }));
        if kmax < n {
            dist.select_nth_unstable_by(kmax - 1, |a, b| a.0.total_cmp(&b.0));
        }
        dist[..kmax].sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let (mut acc, mut next) = (0.0, 0);
        for (j, &(_, i)) in dist[..kmax].iter().enumerate() {
            acc += train_labels[i as usize];
            if ks[next] == j + 1 {
                sums[next] += (acc / (j + 1) as f64 - t).powi(2);
                next += 1;
            }
        }
    }
    sums
}

/// k-NN regression on `n_train` points of `data` with labels noisy at `label_noise` (the same
/// points and labels [`crate::train_regressor`] draws for `seed`), k chosen on `validation`
/// points, scored on `test` points against the clean targets.
///
/// # Errors
/// [`TrainingError::Invalid`] for `n_train = 0`, no validation or test points, or a noise that
/// is negative, not finite or above 1,000.
pub fn knn_regression(
    data: &ManifoldData,
    n_train: usize,
    label_noise: f64,
    validation: usize,
    test: usize,
    seed: u64,
) -> Result<KnnResult, TrainingError> {
    if n_train == 0 || validation == 0 || test == 0 {
        return Err(crate::error::invalid(
            "n_train / validation / test",
            format!("{n_train} / {validation} / {test}"),
            "must all be positive",
        ));
    }
    check_label_noise(label_noise)?;
    let dim = data.config().ambient_dim;
    let tr = data.sample(n_train, train_seed(seed));
    let va = data.sample(validation, VALIDATION_SEED);
    let te = data.sample(test, TEST_SEED);
    let tr_labels = labels(&tr.targets, label_noise, train_seed(seed));
    let va_labels = labels(&va.targets, label_noise, VALIDATION_SEED);
    let ks: Vec<usize> = K_GRID.iter().copied().filter(|&k| k <= n_train).collect();
    let val = errors_by_k(&tr.points, &tr_labels, &va.points, &va_labels, dim, &ks);
    let best = (0..ks.len()).min_by(|&a, &b| val[a].total_cmp(&val[b])).expect("k grid");
    let test_err = errors_by_k(&tr.points, &tr_labels, &te.points, &te.targets, dim, &ks[..=best]);
    let initial = te.targets.iter().map(|t| t * t).sum::<f64>() / test as f64;
    Ok(KnnResult {
        n_train,
        k: ks[best],
        test_mse: test_err[best] / test as f64,
        val_mse: val[best] / validation as f64,
        initial_test_mse: initial,
    })
}
