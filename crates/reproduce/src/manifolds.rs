//! `scalinglab reproduce manifolds`: Havrilla & Liao (arXiv 2411.06646) at laptop scale.
//!
//! 1. **Regression on manifolds.** For each intrinsic dimension d, a Hölder target of
//!    smoothness s on the d-sphere, rotated into R^16 and observed with label noise, is
//!    regressed by 2-layer decoders reading patches of real coordinates
//!    ([`scalinglab_training::train_regressor`]), and by k nearest neighbours on the same points
//!    and labels, the reference that says what rate the target shows at these sizes
//!    ([`scalinglab_training::knn_regression`]). The intrinsic dimension is *estimated* from the
//!    points (Levina–Bickel, k = 20, and TwoNN), and the predicted exponents
//!    `α_D = 2s/(2s + d̂)`, `α_N = 2s/d̂` are set beside the measured ones: the excess test MSE
//!    against the number of training points n at a fixed width, and against the model's
//!    non-embedding parameters at the largest n. The verdicts' preconditions (noisy labels,
//!    sizes past the plateau, errors set by the data rather than the step budget, an error that
//!    falls along the width ladder) are checked in [`analyse`]; [`regression_text`] only writes.
//! 2. **A language model.** A small sweep on Erdős–Rényi walks (the family of `reproduce graphs`) keeps
//!    its models; the intrinsic dimension of the final-layer hidden states of its largest
//!    model (cosine distance, as the paper) predicts α_D, set beside the α_D the sweep
//!    measured.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha12Rng;
use scalinglab_analysis::stats::intrinsic::{
    Spread, cluster_diagnostic, knn, levina_bickel_profile,
};
use scalinglab_analysis::stats::{
    DimensionPrediction, IdEstimate, IdOptions, Metric, intrinsic_dimension, predict_from_dimension,
};
use scalinglab_analysis::{
    Curve, CurveStyle, Estimate, FitOptions, Offset, PlotSpec, PowerLawFit, Precondition,
    RunStatus, Verdict, VerdictOptions, fit_power_law, plot_svg,
};
use scalinglab_data::{HolderTarget, Manifold, ManifoldConfig, ManifoldData};
use scalinglab_model::ModelConfig;
use serde::{Deserialize, Serialize};

use crate::graphs::grow;
use crate::{ReproduceOptions, fmt_fit, provenance};
use scalinglab_training::{
    DeviceChoice, KnnResult, RegressionResult, RegressionTrain, RunOptions, TrainingError,
    hidden_state_points, knn_regression, load_saved_model, run_experiment, select_device,
    train_regressor,
};
use scalinglab_training::{cpu_threads, run_parallel};

/// Ambient dimension of every manifold.
const AMBIENT: usize = 16;
/// Smoothness of the targets.
const SMOOTHNESS: f64 = 0.5;
/// Width of the data-size sweep.
const DATA_WIDTH: usize = 64;
/// The verdicts' resolution: an interval wider than ± this fraction of its value is "not
/// resolved" (issue 18 asks for ±30%).
const MAX_RELATIVE_HALF_WIDTH: f64 = 0.3;
/// A run is past the plateau of its learning curve when its test error is below this fraction
/// of the untrained model's.
const PLATEAU: f64 = 0.5;
/// Standard deviation of the label noise (the targets have unit variance).
const LABEL_NOISE: f64 = 0.5;
/// The step check: the largest n at width [`DATA_WIDTH`] is trained again with this many times
/// the steps, and its error must move by less than [`STEP_TOLERANCE`] for the data sizes to be
/// read as data-limited.
const STEP_FACTOR: usize = 2;
/// See [`STEP_FACTOR`].
const STEP_TOLERANCE: f64 = 0.1;

/// One planned regression run.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct Key {
    dim: usize,
    width: usize,
    n_train: usize,
    steps: usize,
    seed: u64,
}

/// One line of `results.jsonl`: the run and the design it was trained under (a line of another
/// design, e.g. from an earlier version, is not reused).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Line {
    dim: usize,
    /// The run's seed: its initial weights, batches and training points.
    seed: u64,
    /// How this run was trained (its own steps included).
    train: RegressionTrain,
    #[serde(flatten)]
    result: RegressionResult,
}

struct Plan {
    dims: Vec<usize>,
    /// Seeds of the data-size ladder (each size is trained once per seed: its own points,
    /// initial weights and batches); the width ladder and the step check use seed 0.
    seeds: Vec<u64>,
    sizes: Vec<usize>,
    widths: Vec<usize>,
    train: RegressionTrain,
}

impl Plan {
    /// The largest data size: where the width ladder and the step check train.
    fn n_max(&self) -> usize {
        *self.sizes.iter().max().expect("a plan has sizes")
    }
}

fn plan(opts: &ReproduceOptions) -> Plan {
    let (mut dims, mut sizes, mut widths) = if opts.quick {
        (vec![2, 6], vec![128, 512, 2048, 8192], vec![16, 32, 64])
    } else {
        (vec![2, 4, 6], vec![128, 256, 512, 1024, 2048, 4096, 8192], vec![16, 32, 64, 128])
    };
    grow(&mut sizes, opts.scale);
    grow(&mut widths, opts.scale);
    dims.dedup();
    // Chosen by pilot grids (issue 18):
    // - quantised tokens left d = 4 on its plateau up to n = 1024 (the model must learn the
    //   order of 256 unrelated symbols from the data), where patches of real coordinates learn
    //   from n = 128;
    // - 500 steps left every n ≥ 1024 at the step budget (n = 8192, d = 2: 0.265 at 500 steps,
    //   0.170 at 2,000); a peak rate of 5e-3 instead of 2e-3 did not help (0.224); at 2,000
    //   steps the step check failed at d = 2 and 4 (−18%, −22%), at 4,000 only at d = 2 (−16%;
    //   d = 4: −9%), for 21 minutes on 2 cores;
    // - label noise σ = 2 (where k-NN shows 2s/(2s+d) within 0.02 at these n) kept the network
    //   on its plateau up to n = 1024–2048 at every d, leaving 2–3 sizes to fit; σ = 0.5 lets
    //   it learn from n = 256.
    let train = RegressionTrain {
        patch: 4,
        label_noise: LABEL_NOISE,
        steps: 4000,
        validation: 4096,
        ..RegressionTrain::default()
    };
    let mut train = train;
    if opts.quick {
        // Half the steps keeps `--quick` under 5 minutes (5 min 20 s at 4,000 steps).
        train.steps /= 2;
    }
    if opts.scale > 1.0 {
        train.steps = (train.steps as f64 * opts.scale).round() as usize;
    }
    let seeds = if opts.quick { vec![0] } else { vec![0, 1] };
    Plan { dims, seeds, sizes, widths, train }
}

fn manifold(dim: usize) -> ManifoldConfig {
    ManifoldConfig {
        manifold: Manifold::Sphere { dim },
        ambient_dim: AMBIENT,
        noise_std: 0.0,
        target: HolderTarget::bumps(SMOOTHNESS),
        seed: 1,
    }
}

/// The regressor's trunk at `width`: it reads a point as `train` says (tokens need a table of
/// `bins`; patches leave the table unused, so it is the smallest allowed).
fn model(width: usize, train: &RegressionTrain) -> ModelConfig {
    let (vocab_size, context) =
        if train.patch == 0 { (train.bins, AMBIENT) } else { (2, AMBIENT.div_ceil(train.patch)) };
    ModelConfig {
        vocab_size,
        context,
        d_model: width,
        n_layers: 2,
        n_heads: (width / 16).max(1),
        ..ModelConfig::default()
    }
}

/// The intrinsic dimension of `n` points of the manifold in the ambient space.
fn estimate_dimension(data: &ManifoldData, n: usize) -> Result<IdEstimate, TrainingError> {
    let s = data.sample(n, 7);
    let points: Vec<f32> = s.points.iter().map(|&v| v as f32).collect();
    let opts = IdOptions { batch_size: 2000, ..IdOptions::default() };
    Ok(intrinsic_dimension(&points, s.ambient_dim, &opts)?)
}

fn fit(x: &[f64], y: &[f64], offset: Offset) -> Option<PowerLawFit> {
    fit_power_law(x, y, &FitOptions { offset, bootstrap: 200, ..FitOptions::default() }).ok()
}

/// Runs (or resumes) the reproduction into `opts.out` and writes `reproduce.md`.
///
/// # Errors
/// A backend that cannot be used, a run that fails, or a report that cannot be written.
pub fn reproduce_manifolds(opts: &ReproduceOptions) -> Result<PathBuf, TrainingError> {
    let start = std::time::Instant::now();
    let out = opts.out.as_path();
    let plan = plan(opts);
    let selected = select_device(opts.device)?;
    let cpu = matches!(selected.choice, DeviceChoice::Flex | DeviceChoice::Ndarray);
    let (jobs, threads) = if cpu { (cpu_threads(), 1) } else { (1, cpu_threads()) };

    // 1. Regression: the runs not already on disk.
    let results_path = out.join("regression").join("results.jsonl");
    let mut done: BTreeMap<Key, RegressionResult> = BTreeMap::new();
    if let Ok(text) = std::fs::read_to_string(&results_path) {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            // A line cut short by a kill is simply redone.
            if let Ok(l) = serde_json::from_str::<Line>(line)
                && l.train == (RegressionTrain { steps: l.train.steps, ..plan.train.clone() })
            {
                let key = Key {
                    dim: l.dim,
                    width: l.result.d_model,
                    n_train: l.result.n_train,
                    steps: l.train.steps,
                    seed: l.seed,
                };
                done.insert(key, l.result);
            }
        }
    }
    let data: BTreeMap<usize, ManifoldData> = plan
        .dims
        .iter()
        .map(|&d| Ok((d, manifold(d).build()?)))
        .collect::<Result<_, TrainingError>>()?;
    let n_max = plan.n_max();
    let steps = plan.train.steps;
    let mut todo: Vec<Key> = Vec::new();
    for &dim in &plan.dims {
        for &n in &plan.sizes {
            for &seed in &plan.seeds {
                todo.push(Key { dim, width: DATA_WIDTH, n_train: n, steps, seed });
            }
        }
        for &w in &plan.widths {
            todo.push(Key { dim, width: w, n_train: n_max, steps, seed: 0 });
        }
        todo.push(Key {
            dim,
            width: DATA_WIDTH,
            n_train: n_max,
            steps: STEP_FACTOR * steps,
            seed: 0,
        });
    }
    todo.sort();
    todo.dedup();
    todo.retain(|k| !done.contains_key(k));
    // Largest first, so that the last worker does not finish alone.
    todo.sort_by_key(|k| std::cmp::Reverse(k.width * k.width * k.steps));
    if let Some(dir) = results_path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|source| TrainingError::Write { path: dir.to_path_buf(), source })?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&results_path)
        .map_err(|source| TrainingError::Write { path: results_path.clone(), source })?;
    let bar = scalinglab_training::progress_bar(todo.len() as f64, opts.progress);
    if opts.progress {
        bar.println(format!(
            "reproduce manifolds: {} regression runs to train ({} on disk) on {}",
            todo.len(),
            done.len(),
            selected.description
        ));
    }
    let mut failure: Option<TrainingError> = None;
    run_parallel(
        &todo,
        jobs,
        threads,
        |k| {
            train_regressor(
                &data[&k.dim],
                &model(k.width, &plan.train),
                k.n_train,
                &RegressionTrain { steps: k.steps, ..plan.train.clone() },
                k.seed,
                &selected.device,
            )
        },
        |k, r| match r {
            Ok(r) => {
                use std::io::Write as _;
                let line = serde_json::to_string(&Line {
                    dim: k.dim,
                    seed: k.seed,
                    train: RegressionTrain { steps: k.steps, ..plan.train.clone() },
                    result: r.clone(),
                })
                .expect("a result serialises");
                if let Err(source) = writeln!(file, "{line}").and_then(|_| file.flush()) {
                    failure
                        .get_or_insert(TrainingError::Write { path: results_path.clone(), source });
                }
                done.insert(k.clone(), r);
                bar.inc(1);
            }
            Err(e) => {
                failure.get_or_insert(e);
            }
        },
    );
    bar.finish_and_clear();
    if let Some(e) = failure {
        return Err(e);
    }

    // 2. Estimated dimensions, predictions, fits, verdicts; then their text and plots.
    let findings: Vec<Finding> = plan
        .dims
        .iter()
        .map(|&dim| analyse(dim, &data[&dim], &plan, &done))
        .collect::<Result<_, _>>()?;
    regression_plots(out, &findings, n_max)?;
    let mut md = regression_text(&plan, &findings);
    // 3. A language model's hidden states.
    md += &language_model_section(opts, out)?;
    let device = if cpu {
        format!("{} (cpu, {jobs} parallel runs × {threads} thread)", selected.choice)
    } else {
        selected.description.clone()
    };
    md += &provenance(opts, &device, start.elapsed().as_secs_f64());
    let path = crate::write_report(out, &md)?;
    Ok(path)
}

/// What the regression measured at one intrinsic dimension and the verdicts it supports:
/// computed here, written by [`regression_text`].
struct Finding {
    dim: usize,
    /// The dimension estimated from 4,000 points (Levina–Bickel and TwoNN, 95% intervals).
    id: IdEstimate,
    /// The exponents predicted from d̂: Levina–Bickel (the one compared) and TwoNN.
    lb: DimensionPrediction,
    tn: DimensionPrediction,
    /// Runs at width [`DATA_WIDTH`] by n, and at the largest n by width, in order.
    by_n: Vec<RegressionResult>,
    by_w: Vec<RegressionResult>,
    /// How many of each beat predicting the mean (past the plateau): the ones fitted.
    fitted_n: usize,
    fitted_w: usize,
    /// `α_D` fits with E free and with E = 0 (the floor of the excess risk).
    alpha_d: (Option<PowerLawFit>, Option<PowerLawFit>),
    /// The reference learner (k-NN) on the same points and labels, by n, and its `α_D`
    /// (E = 0, sizes past the plateau): the rate the target shows at these sizes.
    knn: Vec<KnnResult>,
    knn_alpha: Option<PowerLawFit>,
    alpha_n: (Option<PowerLawFit>, Option<PowerLawFit>),
    verdict_d: Verdict,
    /// The network's `α_D` against the k-NN reference's.
    verdict_ref: Verdict,
    verdict_n: Verdict,
}

/// Half-width of a spread's 95% interval.
fn half_width(s: &Spread, dim: usize) -> Result<f64, TrainingError> {
    s.half_width.ok_or_else(|| {
        TrainingError::invalid("intrinsic dimension", dim, "one batch gives no interval")
    })
}

/// The step check: the error at the largest n (width [`DATA_WIDTH`]) moves by less than
/// [`STEP_TOLERANCE`] when trained with [`STEP_FACTOR`] times the steps, so that the data, not
/// the step budget, sets the errors. `base` and `longer` are the two runs, if trained.
fn step_check(base: Option<&RegressionResult>, longer: Option<&RegressionResult>) -> Precondition {
    let statement = format!(
        "the errors are set by the data, not the step budget: at the largest n, {STEP_FACTOR}× \
         the steps changes the error by less than {:.0}%",
        STEP_TOLERANCE * 100.0
    );
    match (base, longer) {
        (Some(b), Some(l)) => {
            let change = (l.test_mse - b.test_mse) / b.test_mse;
            Precondition::new(
                statement,
                change.abs() < STEP_TOLERANCE,
                format!(
                    "{:.4} after {} steps, {:.4} after {} ({:+.1}%)",
                    b.test_mse,
                    b.steps,
                    l.test_mse,
                    l.steps,
                    change * 100.0
                ),
            )
        }
        _ => Precondition::new(statement, false, "not trained"),
    }
}

/// Estimates d, predicts the exponents, fits the measured ones and reaches the verdicts at one
/// intrinsic dimension.
fn analyse(
    dim: usize,
    data: &ManifoldData,
    plan: &Plan,
    done: &BTreeMap<Key, RegressionResult>,
) -> Result<Finding, TrainingError> {
    let n_max = plan.n_max();
    let steps = plan.train.steps;
    let id = estimate_dimension(data, 4000)?;
    let lb = predict_from_dimension(
        id.mle.mean,
        half_width(&id.mle, dim)?,
        SMOOTHNESS,
        "levina_bickel",
    )?;
    let tn =
        predict_from_dimension(id.two_nn.mean, half_width(&id.two_nn, dim)?, SMOOTHNESS, "two_nn")?;
    let by_n: Vec<RegressionResult> = plan
        .sizes
        .iter()
        .flat_map(|&n| plan.seeds.iter().map(move |&seed| (n, seed)))
        .filter_map(|(n, seed)| {
            done.get(&Key { dim, width: DATA_WIDTH, n_train: n, steps, seed }).cloned()
        })
        .collect();
    let by_w: Vec<RegressionResult> = plan
        .widths
        .iter()
        .filter_map(|&w| done.get(&Key { dim, width: w, n_train: n_max, steps, seed: 0 }).cloned())
        .collect();
    let at_max = |steps| done.get(&Key { dim, width: DATA_WIDTH, n_train: n_max, steps, seed: 0 });
    let steps_ok = step_check(at_max(steps), at_max(STEP_FACTOR * steps));
    // A learning curve starts on a plateau, the untrained model's error (it predicts the mean),
    // and bends down from it; the power law describes the error after the bend, so runs whose
    // error is not below PLATEAU times the untrained one are plotted but not fitted.
    let past = |r: &&RegressionResult| r.best_step > 0 && r.test_mse < PLATEAU * r.initial_test_mse;
    let learned_n: Vec<&RegressionResult> = by_n.iter().filter(past).collect();
    let learned_w: Vec<&RegressionResult> = by_w.iter().filter(past).collect();
    let sizes_past = {
        let mut n: Vec<usize> = learned_n.iter().map(|r| r.n_train).collect();
        n.dedup();
        n.len()
    };
    let xn: Vec<f64> = learned_n.iter().map(|r| r.n_train as f64).collect();
    let yn: Vec<f64> = learned_n.iter().map(|r| r.test_mse).collect();
    let xw: Vec<f64> = learned_w.iter().map(|r| r.params as f64).collect();
    let yw: Vec<f64> = learned_w.iter().map(|r| r.test_mse).collect();
    let alpha_d = (fit(&xn, &yn, Offset::Free), fit(&xn, &yn, Offset::Zero));
    let knn: Vec<KnnResult> = plan
        .sizes
        .iter()
        .flat_map(|&n| plan.seeds.iter().map(move |&seed| (n, seed)))
        .map(|(n, seed)| {
            let t = &plan.train;
            knn_regression(data, n, t.label_noise, t.validation, t.test, seed)
        })
        .collect::<Result<_, _>>()?;
    let (kx, ky): (Vec<f64>, Vec<f64>) = knn
        .iter()
        .filter(|r| r.test_mse < PLATEAU * r.initial_test_mse)
        .map(|r| (r.n_train as f64, r.test_mse))
        .unzip();
    let knn_alpha = fit(&kx, &ky, Offset::Zero);
    let alpha_n = (fit(&xw, &yw, Offset::Free), fit(&xw, &yw, Offset::Zero));
    let sigma = plan.train.label_noise;
    let noisy = Precondition::new(
        "the training labels carry noise (2s/(2s+d) is the minimax rate for noisy labels; \
         noiseless ones allow up to 2s/d)",
        sigma > 0.0,
        format!("label noise σ = {sigma}"),
    );
    let opts = VerdictOptions { max_relative_half_width: MAX_RELATIVE_HALF_WIDTH };
    let against = |pred: &Estimate, m: &Option<PowerLawFit>, pre: &[Precondition]| match m {
        Some(m) => scalinglab_analysis::compare(
            pred,
            &Estimate::with_interval(m.alpha, m.alpha_ci),
            pre,
            &opts,
        ),
        None => Verdict::NotTestable("no fit".into()),
    };
    let judge = |pred: f64, err: f64, m: &Option<PowerLawFit>, pre: &[Precondition]| {
        against(&Estimate::symmetric(pred, err), m, pre)
    };
    let predicted_d = Estimate::symmetric(lb.alpha_d, lb.alpha_d_err);
    // The regime: 2s/(2s+d) is an asymptotic rate; the reference learner, minimax-optimal for
    // this target class, shows whether these sizes reach it.
    let regime = {
        let v = against(&predicted_d, &knn_alpha, &[]);
        Precondition::new(
            "the target shows the predicted rate at these sizes (the k-NN reference's α_D agrees \
             with 2s/(2s+d̂))",
            v == Verdict::Agrees,
            format!("k-NN α_D {}: {}", fmt_fit(knn_alpha.as_ref(), false), v.short()),
        )
    };
    let fitted = Precondition::new(
        "at least 4 data sizes past the plateau are fitted",
        sizes_past >= 4,
        format!("{sizes_past} of {}", plan.sizes.len()),
    );
    let verdict_d = judge(
        lb.alpha_d,
        lb.alpha_d_err,
        &alpha_d.1,
        &[noisy.clone(), fitted.clone(), steps_ok.clone(), regime],
    );
    // The network against the rate the target shows to local averaging on the same data.
    let verdict_ref = match &knn_alpha {
        Some(k) => against(
            &Estimate::with_interval(k.alpha, k.alpha_ci),
            &alpha_d.1,
            &[noisy.clone(), fitted, steps_ok.clone()],
        ),
        None => Verdict::NotTestable("no k-NN fit".into()),
    };
    // α_N = 2s/d is the approximation rate: the error must be set by the model's size, not by
    // the data, for it to show. A necessary sign: the error falls at every step of the ladder.
    let falls = learned_w.windows(2).all(|w| w[1].test_mse < w[0].test_mse);
    let verdict_n = judge(
        lb.alpha_n,
        lb.alpha_n_err,
        &alpha_n.1,
        &[
            Precondition::new(
                "at least 4 widths past the plateau are fitted",
                learned_w.len() >= 4,
                format!("{} of {}", learned_w.len(), by_w.len()),
            ),
            Precondition::new(
                format!(
                    "the error falls at every step of the width ladder at n = {n_max} (a \
                     necessary sign that model size, not data, sets it)"
                ),
                falls,
                learned_w
                    .iter()
                    .map(|r| format!("{}: {:.4}", r.d_model, r.test_mse))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            steps_ok,
        ],
    );
    Ok(Finding {
        dim,
        id,
        lb,
        tn,
        fitted_n: learned_n.len(),
        fitted_w: learned_w.len(),
        by_n,
        by_w,
        alpha_d,
        knn,
        knn_alpha,
        alpha_n,
        verdict_d,
        verdict_ref,
        verdict_n,
    })
}

/// The regression part of the report: design, table, verdicts and raw errors.
fn regression_text(plan: &Plan, findings: &[Finding]) -> String {
    let n_max = plan.n_max();
    let t = &plan.train;
    let input = if t.patch == 0 {
        format!("one token per quantised coordinate, {} bins", t.bins)
    } else {
        format!(
            "patches of {} real coordinates through a linear input embedding, {} positions",
            t.patch,
            AMBIENT.div_ceil(t.patch)
        )
    };
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Intrinsic dimension sets the exponent, reproduced at laptop scale\n\n\
         After Havrilla & Liao (arXiv 2411.06646). **Prediction:** with inputs on a \
         d-dimensional manifold and an s-Hölder target observed with noise, the regression \
         error falls as n^(−α_D), α_D = 2s/(2s+d), and as N^(−α_N), α_N = 2s/d. Here d is \
         *estimated* from the points (Levina–Bickel MLE with k = 20, and TwoNN), never read \
         from the generator. **Measurement:** 2-layer decoders ({input}) trained with AdamW \
         (batch {}, {} steps, warm-up then cosine, early-stopped on {} validation points) \
         on labels f(x) + σε with σ = {}; the error is the test MSE against the clean f(x) on \
         {} points, the excess risk, whose floor is 0. It is measured against n at width \
         {DATA_WIDTH} (each n trained with {} seeds: its own points, initial weights and \
         batches), and against non-embedding parameters N at \
         n = {n_max}; fits L = E + A·x^(−α) with a free offset E and with E = 0, 95% \
         bootstrap intervals. Targets: s = {SMOOTHNESS}, d-spheres rotated into R^{AMBIENT}, \
         unit variance; the target is a sum of sign-random bumps at dyadic scales, about \
         2^(jd) of them at scale 2^(−j) with amplitude 2^(−js) (`kind = \"bumps\"`), whose \
         difficulty grows with d as the theory needs (ridge sums, the earlier target, are \
         one-dimensional problems whatever d is).\n",
        t.batch_size,
        t.steps,
        t.validation,
        t.label_noise,
        t.test,
        plan.seeds.len()
    );
    let _ = writeln!(
        md,
        "**Data exponent.** The reference learner, k nearest neighbours on the same points and \
         labels (k chosen on the validation points), only averages locally: on this target its \
         rate is the minimax one when the sizes are in the asymptotic regime, so its column \
         says what rate the target shows at these n.\n\n\
         | true d | d̂ Levina–Bickel | d̂ TwoNN | predicted α_D = 2s/(2s+d̂) | k-NN α_D (E = 0) | network α_D (E = 0) | network α_D (E free) | network against 2s/(2s+d̂) | network against k-NN |\n|---|---|---|---|---|---|---|---|---|"
    );
    for f in findings {
        let _ = writeln!(
            md,
            "| {} | {:.2} ± {:.2} | {:.2} ± {:.2} | {:.3} ± {:.3} (TwoNN {:.3}) | {} | **{}** | {} | {} | {} |",
            f.dim,
            f.id.mle.mean,
            f.lb.d_err,
            f.id.two_nn.mean,
            f.tn.d_err,
            f.lb.alpha_d,
            f.lb.alpha_d_err,
            f.tn.alpha_d,
            fmt_fit(f.knn_alpha.as_ref(), false),
            fmt_fit(f.alpha_d.1.as_ref(), false),
            fmt_fit(f.alpha_d.0.as_ref(), false),
            f.verdict_d.short(),
            f.verdict_ref.short(),
        );
    }
    let _ = writeln!(
        md,
        "\n**Parameter exponent** (width ladder at n = {n_max}):\n\n\
         | true d | predicted α_N = 2s/d̂ | measured α_N (E = 0) | measured α_N (E free) | verdict |\n|---|---|---|---|---|"
    );
    for f in findings {
        let _ = writeln!(
            md,
            "| {} | {:.3} ± {:.3} (TwoNN {:.3}) | {} | {} | {} |",
            f.dim,
            f.lb.alpha_n,
            f.lb.alpha_n_err,
            f.tn.alpha_n,
            fmt_fit(f.alpha_n.1.as_ref(), false),
            fmt_fit(f.alpha_n.0.as_ref(), false),
            f.verdict_n.short(),
        );
    }
    let _ = writeln!(
        md,
        "\n**Verdicts,** each from `analysis::verdict` with its preconditions checked in code \
         (95% intervals; the prediction's from d̂'s interval, the measurement's from the \
         bootstrap; an interval wider than ±{:.0}% of its value is \"not resolved\"; the two \
         agree when their difference lies within 1.96 combined standard errors):\n",
        MAX_RELATIVE_HALF_WIDTH * 100.0
    );
    for f in findings {
        let _ = writeln!(md, "- d = {}, α_D (E = 0) against 2s/(2s+d̂): **{}**", f.dim, f.verdict_d);
        let _ = writeln!(
            md,
            "- d = {}, α_D (E = 0) against the k-NN reference on the same data: **{}**",
            f.dim, f.verdict_ref
        );
        let _ = writeln!(md, "- d = {}, α_N (E = 0) against 2s/d̂: **{}**", f.dim, f.verdict_n);
    }
    let ambient = 2.0 * SMOOTHNESS / (2.0 * SMOOTHNESS + AMBIENT as f64);
    let _ = writeln!(
        md,
        "\n**How to read the two α_D verdicts.** 2s/(2s+d) is an asymptotic (minimax) rate. \
         The k-NN reference, which reaches it asymptotically on this target class, shows whether \
         these sizes and this noise are in that regime: where its own α_D does not agree with \
         2s/(2s+d̂), the paper's value cannot be tested here and the verdict says so. The \
         network is then set beside the rate the target does show at these n: agreeing with it \
         means the network learns as fast as minimax-optimal local averaging in d dimensions, \
         far from the rate 2s/(2s+D) = {ambient:.3} that the ambient dimension D = {AMBIENT} \
         would give. Larger n and more steps (`--scale S`, a GPU) move toward the asymptotic \
         regime."
    );
    let _ = writeln!(md, "\n![MSE against n](mse_vs_n.svg)\n![MSE against N](mse_vs_params.svg)\n");
    let _ = writeln!(
        md,
        "Raw test errors, one per seed ({}) at each n (network: width {DATA_WIDTH}, best \
         validation step / steps taken; k-NN: the k chosen):\n",
        plan.seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
    );
    for f in findings {
        if f.fitted_n < f.by_n.len() {
            let _ = writeln!(
                md,
                "- d = {}: {} of {} runs of the data-size ladder are on the plateau (error not \
                 below {PLATEAU} of the untrained model's) and are left out of the α_D fit",
                f.dim,
                f.by_n.len() - f.fitted_n,
                f.by_n.len()
            );
        }
        if f.fitted_w < f.by_w.len() {
            let _ = writeln!(
                md,
                "- d = {}: {} of {} widths are on the plateau and are left out of the α_N fit",
                f.dim,
                f.by_w.len() - f.fitted_w,
                f.by_w.len()
            );
        }
        let _ = writeln!(
            md,
            "- d = {}, k-NN: {}",
            f.dim,
            per_size(&f.knn, |r| r.n_train, |r| format!("{:.4} (k = {})", r.test_mse, r.k))
        );
        let _ = writeln!(
            md,
            "- d = {}, network: {}",
            f.dim,
            per_size(
                &f.by_n,
                |r| r.n_train,
                |r| { format!("{:.4} ({}/{})", r.test_mse, r.best_step, r.steps) }
            )
        );
    }
    let _ = writeln!(
        md,
        "\nEvery run is a line of [`regression/results.jsonl`](regression/results.jsonl) \
         (width, parameters, n, test and validation MSE, the early-stopping step, the steps \
         taken, seconds)."
    );
    md
}

/// `runs` (ordered by size, one per seed) as `n = 128: a / b; n = 256: …`, each run shown by
/// `show`.
fn per_size<T>(runs: &[T], n: impl Fn(&T) -> usize, show: impl Fn(&T) -> String) -> String {
    runs.chunk_by(|a, b| n(a) == n(b))
        .map(|rs| {
            let each: Vec<String> = rs.iter().map(&show).collect();
            format!("n = {}: {}", n(&rs[0]), each.join(" / "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The two plots of the regression: error against n and against N (at `n_max`), with the
/// E = 0 fits.
fn regression_plots(out: &Path, findings: &[Finding], n_max: usize) -> Result<(), TrainingError> {
    let mut by_n = Vec::new();
    let mut by_w = Vec::new();
    for f in findings {
        let markers = |pts: Vec<(f64, f64)>| Curve {
            label: format!("d = {}", f.dim),
            points: pts,
            style: CurveStyle::Markers,
        };
        by_n.push(markers(f.by_n.iter().map(|r| (r.n_train as f64, r.test_mse)).collect()));
        by_w.push(markers(f.by_w.iter().map(|r| (r.params as f64, r.test_mse)).collect()));
        by_n.push(Curve {
            label: format!("d = {}: k-NN (reference)", f.dim),
            points: f.knn.iter().map(|r| (r.n_train as f64, r.test_mse)).collect(),
            style: CurveStyle::Dashed,
        });
        for (curves, fit, name, pred) in [
            (&mut by_n, &f.alpha_d.1, "α_D", f.lb.alpha_d),
            (&mut by_w, &f.alpha_n.1, "α_N", f.lb.alpha_n),
        ] {
            if let Some(m) = fit {
                let (lo, hi) = m.x_range;
                curves.push(Curve {
                    label: format!("d = {}: fit {name} = {:.2} (pred. {pred:.2})", f.dim, m.alpha),
                    points: log_grid(lo, hi).map(|x| (x, m.predict(x))).collect(),
                    style: CurveStyle::Line,
                });
            }
        }
    }
    for (file, title, x_label, curves) in [
        (
            "mse_vs_n.svg",
            format!("Test MSE (clean targets) against training points (width {DATA_WIDTH})"),
            "training points n",
            by_n,
        ),
        (
            "mse_vs_params.svg",
            format!("Test MSE (clean targets) against parameters (n = {n_max})"),
            "non-embedding parameters N",
            by_w,
        ),
    ] {
        plot_svg(
            &out.join(file),
            &PlotSpec {
                title,
                x_label: x_label.into(),
                y_label: "test MSE".into(),
                log_x: true,
                log_y: true,
                curves,
                hlines: vec![],
            },
        )?;
    }
    Ok(())
}

fn log_grid(lo: f64, hi: f64) -> impl Iterator<Item = f64> {
    (0..=40).map(move |i| lo * (hi / lo).powf(i as f64 / 40.0))
}

/// Trains (or resumes) a small walk sweep that keeps its models, estimates the intrinsic
/// dimension of the largest model's hidden states and sets the α_D it predicts beside the
/// sweep's measured α_D.
fn language_model_section(opts: &ReproduceOptions, out: &Path) -> Result<String, TrainingError> {
    let mut cfg = crate::walk_base();
    cfg.name = "reproduce_manifolds_lm".into();
    cfg.sweep.widths = vec![32, 64, 128];
    cfg.sweep.tokens = vec![102_400, 204_800, 409_600, 819_200];
    if opts.quick {
        cfg.sweep.widths = vec![32, 64];
        cfg.sweep.tokens = vec![102_400, 204_800, 409_600];
    }
    grow(&mut cfg.sweep.tokens, opts.scale);
    cfg.train.save_models = true;
    cfg.analysis.bootstrap = 200;
    let lm_dir = out.join("lm");
    let run_opts = RunOptions { progress: opts.progress, ..RunOptions::new(&lm_dir, opts.device) };
    let o = run_experiment(&cfg, &run_opts)?;
    let best = o
        .records
        .iter()
        .filter(|r| r.status == RunStatus::Ok)
        .max_by_key(|r| (r.params_non_embedding, r.tokens))
        .ok_or_else(|| TrainingError::invalid("lm sweep", "no run", "finished no run"))?;
    let selected = select_device(opts.device)?;
    let model_path = lm_dir.join("runs").join(&best.run_id).join("model.safetensors");
    let (mcfg, net) = load_saved_model(&model_path, &selected.device)?;
    let chain = cfg.data.walk.build()?;
    let mut rng = ChaCha12Rng::seed_from_u64(0xD1_5EA5E);
    let tokens = chain.sample_walk(200_000, &mut rng);
    let (points, dim) = hidden_state_points(&net, &mcfg, &tokens, 7200, 0, &selected.device)?;
    let id = intrinsic_dimension(
        &points,
        dim,
        // Batches of 3,000: two of them even after identical states (repeated contexts) are
        // removed, so that d̂ has a 95% interval (one batch has none).
        &IdOptions { metric: Metric::Cosine, batch_size: 3000, ..IdOptions::default() },
    )?;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "\n## A language model: intrinsic dimension of its hidden states\n\n\
         The paper's second claim: the intrinsic dimension of a trained language model's \
         final-layer hidden states predicts its α_D. Model: the largest of a walk sweep \
         (GPT-2, width {}, trained on {} tokens of Erdős–Rényi walks, [`lm/report.md`](lm/report.md)); \
         7,200 hidden states at the last position of held-out windows, cosine distance, \
         batches of 3,000 distinct states (the paper uses 3,600; two batches remain after \
         repeats are removed, for an interval).\n",
        best.d_model, best.tokens
    );
    let _ = writeln!(
        md,
        "| estimator | d̂ | predicted α_D, s = 1 | predicted α_D, s = 0.5 | measured α_D of the sweep (E free) | measured α_D, E = entropy rate |\n|---|---|---|---|---|---|"
    );
    for (name, spread) in [
        ("Levina–Bickel (k = 20)", &id.mle),
        ("TwoNN (maximum likelihood)", &id.two_nn),
        ("TwoNN (Facco regression)", &id.two_nn_regression),
    ] {
        let Some(half) = spread.half_width else {
            let _ = writeln!(
                md,
                "| {name} | {:.2} (one batch: no interval) | – | – | – | – |",
                spread.mean
            );
            continue;
        };
        let (p1, p05) = if id.clustered {
            ("not made: clustered states".to_string(), "–".to_string())
        } else {
            let p1 = predict_from_dimension(spread.mean, half, 1.0, name)?;
            let p05 = predict_from_dimension(spread.mean, half, 0.5, name)?;
            (
                format!("{:.3} ± {:.3}", p1.alpha_d, p1.alpha_d_err),
                format!("{:.3} ± {:.3}", p05.alpha_d, p05.alpha_d_err),
            )
        };
        let _ = writeln!(
            md,
            "| {name} | {:.2} ± {half:.2} | {p1} | {p05} | {} | {} |",
            spread.mean,
            fmt_fit(o.fits.loss_vs_d.as_ref(), false),
            fmt_fit(o.fits.loss_vs_d_fixed_e.as_ref(), false),
        );
    }
    // The scale dependence: d̂ against k on the first batch, and the cluster check.
    let first: Vec<f32> = points[..(3600 * dim).min(points.len())].to_vec();
    let nb = knn(&first, dim, 40, Metric::Cosine)?;
    let profile = levina_bickel_profile(&nb, &[5, 10, 20, 40])?;
    let clusters = cluster_diagnostic(&nb, 20)?;
    let _ = writeln!(
        md,
        "\n± is the half-width of the 95% Student-t interval over the {} batches. {} exact \
         repeats (identical contexts) were removed first. **Scale dependence** (Levina–Bickel \
         on the first 3,600 states): {}. **Clusters:** the median share of the largest gap in \
         each state's 20 neighbour distances is {:.3} (about {:.3} for a locally uniform \
         cloud of any dimension); {}.",
        id.batches.len(),
        id.duplicates,
        profile
            .iter()
            .map(|p| format!("d̂(k = {}) = {:.2}", p.k, p.estimate.value))
            .collect::<Vec<_>>()
            .join(", "),
        clusters.median_gap_share,
        clusters.null_median,
        if id.clustered || clusters.clustered {
            "the states form tight clusters (about one per graph node), so d̂ measures their \
             tightness, not a manifold's dimension, and no α_D is predicted from it"
        } else {
            "no clustering is detected, so d̂ is read as a dimension"
        }
    );
    let _ = writeln!(
        md,
        "\nWalk data are not text: a bigram process has no long-range structure, and its \
         hidden states need only encode the current node. The paper's agreement (within \
         ±0.02) was on natural language; run `scalinglab hidden` and `scalinglab stats --points` \
         on a model trained on a corpus to test it there."
    );
    Ok(md)
}
