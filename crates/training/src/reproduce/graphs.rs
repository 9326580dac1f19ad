//! `scalinglab reproduce graphs`: Barkeshli, Alfarano & Gromov's random-walk experiments at
//! laptop scale, with the prediction (the exact entropy rate as the irreducible loss) next to
//! the measurement (the fitted offset and exponents) for each graph family, and SP against
//! muP at equal N.

use std::fmt::Write as _;
use std::path::PathBuf;

use scalinglab_data::{GraphSpec, WalkBias};
use scalinglab_model::Parameterization;

use super::{ReproduceOptions, fmt_fit, provenance, write_file};
use crate::{ExperimentConfig, ExperimentOutcome, RunOptions, TrainingError, run_experiment};

/// One experiment of the reproduction.
struct Arm {
    name: &'static str,
    what: &'static str,
    cfg: ExperimentConfig,
}

/// Extends `grid` by doublings of its largest value up to `scale` times it.
pub(super) fn grow<T>(grid: &mut Vec<T>, scale: f64)
where
    T: Copy + Ord + TryInto<u64> + TryFrom<u64>,
{
    let Some(top) = grid.iter().max().and_then(|&t| t.try_into().ok()) else { return };
    let mut v = top;
    while (v * 2) as f64 <= top as f64 * scale + 0.5 {
        v *= 2;
        if let Ok(x) = T::try_from(v) {
            grid.push(x);
        }
    }
}

fn arms(quick: bool, scale: f64) -> Vec<Arm> {
    let base = {
        let mut c = ExperimentConfig::quickstart();
        if quick {
            c.sweep.widths = vec![16, 32, 64];
            c.sweep.tokens = vec![51_200, 102_400, 204_800];
        }
        grow(&mut c.sweep.widths, scale);
        grow(&mut c.sweep.tokens, scale);
        c.analysis.bootstrap = 200;
        c
    };
    let er = base.clone();
    let mut er_biased = base.clone();
    er_biased.data.walk.bias = WalkBias::PowerLaw { exponent: 1.0 };
    let mut ba = base.clone();
    ba.data.walk.graph = GraphSpec::BarabasiAlbert { nodes: 1024, m: 5 };
    let mut mup = base.clone();
    mup.model.parameterization = Parameterization::Mup;
    mup.model.base_width = 16;
    mup.train.lr_base_width = None; // muP scales the hidden rates itself
    let named = |name: &'static str, what: &'static str, mut cfg: ExperimentConfig| {
        cfg.name = format!("reproduce_graphs_{name}");
        Arm { name, what, cfg }
    };
    vec![
        named("er_unbiased", "Erdős–Rényi 1,024 / 5,120, unbiased walk, SP", er),
        named(
            "er_biased",
            "Erdős–Rényi 1,024 / 5,120, power-law biased walk (κ = 1), SP",
            er_biased,
        ),
        named("ba", "Barabási–Albert 1,024 nodes, m = 5, unbiased walk, SP", ba),
        named("er_unbiased_mup", "Erdős–Rényi 1,024 / 5,120, unbiased walk, muP", mup),
    ]
}

/// The IsoFLOP arm: the unbiased ER family along lines D = C/(6N) (as `configs/isoflop.toml`),
/// so that the IsoFLOP parabolas (Chinchilla's approach 2) have bracketed minima.
fn isoflop_arm(quick: bool, scale: f64) -> ExperimentConfig {
    let mut c = ExperimentConfig::quickstart();
    c.name = "reproduce_graphs_er_isoflop".into();
    c.description = "IsoFLOP lines D = C/(6N) on the unbiased Erdős–Rényi walks, for the \
                     compute-optimal frontier."
        .into();
    c.sweep.tokens = Vec::new();
    c.sweep.compute_budgets =
        if quick { vec![3e10, 1e11, 3e11] } else { vec![3e10, 1e11, 3e11, 1e12] };
    let top = c.sweep.compute_budgets.iter().copied().fold(0.0, f64::max);
    let mut next = top * 10f64.sqrt();
    while next <= top * scale * 1.0001 {
        c.sweep.compute_budgets.push(next);
        next *= 10f64.sqrt();
    }
    c.sweep.isoflop_tokens = Some([800, 8_000_000 * scale.ceil() as u64]);
    c.analysis.bootstrap = 200;
    c
}

/// `value [lo, hi]` of a frontier estimate.
fn fmt_estimate(e: &scalinglab_analysis::frontier::Estimate) -> String {
    match e.ci {
        Some((lo, hi)) => format!("{:.2} [{lo:.2}, {hi:.2}]", e.value),
        None => format!("{:.2}", e.value),
    }
}

/// The compute-optimal frontier of one run directory by every method of `scalinglab fit`,
/// as markdown rows `| data | method | a | b |`.
fn frontier_rows(label: &str, dir: &std::path::Path) -> Result<String, TrainingError> {
    let opts = scalinglab_analysis::FitCommandOptions {
        bootstrap: 200,
        ..scalinglab_analysis::FitCommandOptions::default()
    };
    let report = scalinglab_analysis::fit_command(dir, &opts, &dir.join("fit"))?;
    let mut rows = String::new();
    for m in &report.methods {
        let (a, b) = match (&m.allocation, &m.error) {
            (Some(al), _) => (fmt_estimate(&al.n_exponent), fmt_estimate(&al.d_exponent)),
            (None, Some(e)) => {
                let short: String = e.split(':').nth(1).unwrap_or(e).chars().take(110).collect();
                (format!("not available:{short}…"), "–".into())
            }
            (None, None) => ("–".into(), "–".into()),
        };
        let _ = writeln!(rows, "| {label} | {} | {a} | {b} |", m.method);
    }
    Ok(rows)
}

/// Runs (or resumes) every arm into `out/<arm>/` and writes `out/reproduce.md`, whose first
/// table sets the predicted irreducible loss (the exact entropy rate) beside the fitted offset
/// and the exponents. `quick` trains a 3 × 3 grid per arm instead of the quickstart's 4 × 5;
/// `scale` extends both grids by doublings. Each arm's `config.toml` in its directory is an
/// ordinary experiment file (`scalinglab run CONFIG --emit slurm` takes it to a cluster).
///
/// # Errors
/// As [`run_experiment`], or if the report cannot be written.
pub fn reproduce_graphs(ropts: &ReproduceOptions) -> Result<PathBuf, TrainingError> {
    let start = std::time::Instant::now();
    let out = ropts.out.as_path();
    let mut results: Vec<(Arm, ExperimentOutcome)> = Vec::new();
    let mut device = String::new();
    for arm in arms(ropts.quick, ropts.scale) {
        let opts = RunOptions {
            progress: ropts.progress,
            ..RunOptions::new(out.join(arm.name), ropts.device)
        };
        let o = run_experiment(&arm.cfg, &opts)?;
        device = super::trained_on(&o);
        results.push((arm, o));
    }
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Random walks on graphs, reproduced at laptop scale\n\n\
         After Barkeshli, Alfarano & Gromov (arXiv 2601.10684): 2-layer decoders, context 50, one \
         epoch, AdamW (weight decay 0.01, 2% warmup, cosine). **Prediction:** the best possible \
         loss is the walk's exact entropy rate H, so a fitted offset E should sit at or above H. \
         **Measurement:** L = E + A·x^(−α) fitted to the held-out losses in N (at the largest D) \
         and in D (at the largest N), with 95% bootstrap intervals; the same with E fixed at H.\n"
    );
    let _ = writeln!(
        md,
        "| arm | H (predicted E) | fitted E, L(N) | α_N | α_N, E = H | fitted E, L(D) | α_D | α_D, E = H | best loss |\n|---|---|---|---|---|---|---|---|---|"
    );
    for (arm, o) in &results {
        let f = &o.fits;
        let best = super::best_loss(o);
        let _ = writeln!(
            md,
            "| {} | {:.4} | {} | {} | {} | {} | {} | {} | {:.4} |",
            arm.name,
            o.entropy_rate,
            fmt_fit(f.loss_vs_n.as_ref(), true),
            fmt_fit(f.loss_vs_n.as_ref(), false),
            fmt_fit(f.loss_vs_n_fixed_e.as_ref(), false),
            fmt_fit(f.loss_vs_d.as_ref(), true),
            fmt_fit(f.loss_vs_d.as_ref(), false),
            fmt_fit(f.loss_vs_d_fixed_e.as_ref(), false),
            best,
        );
    }
    let _ = writeln!(
        md,
        "\n## SP against muP at equal N (largest D)\n\n| N (non-embedding) | SP loss | muP loss | muP − SP |\n|---|---|---|---|"
    );
    let sp = &results[0].1.records;
    let mup = &results[3].1.records;
    let max_d = sp.iter().map(|r| r.tokens).max().unwrap_or(0);
    let mut at_max: Vec<_> = sp.iter().filter(|r| r.tokens == max_d).collect();
    at_max.sort_by_key(|r| r.params_non_embedding);
    for r in at_max {
        if let Some(m) = mup.iter().find(|m| m.tokens == max_d && m.d_model == r.d_model) {
            let _ = writeln!(
                md,
                "| {} | {:.4} | {:.4} | {:+.4} |",
                r.params_non_embedding,
                r.eval_loss,
                m.eval_loss,
                m.eval_loss - r.eval_loss
            );
        }
    }
    let iso_cfg = isoflop_arm(ropts.quick, ropts.scale);
    let iso = run_experiment(
        &iso_cfg,
        &RunOptions {
            progress: ropts.progress,
            ..RunOptions::new(out.join("er_isoflop"), ropts.device)
        },
    )?;
    let _ = writeln!(
        md,
        "\n## Compute-optimal frontier\n\n`N_opt ∝ C^a`, `D_opt ∝ C^b` (C = 6ND, N without \
         embeddings) by each of `scalinglab fit`'s methods, 95% bootstrap intervals: on the \
         unbiased ER grid above, and on IsoFLOP lines of the same family (budgets {} FLOPs, \
         [`er_isoflop/`](er_isoflop/report.md)), where the IsoFLOP parabolas have bracketed \
         minima. The frontier by interpolation is the surface method (Barkeshli et al.).\n\n\
         | data | method | a (N_opt ∝ C^a) | b (D_opt ∝ C^b) |\n|---|---|---|---|",
        iso_cfg
            .sweep
            .compute_budgets
            .iter()
            .map(|c| format!("{c:.0e}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    md += &frontier_rows("ER grid", &results[0].1.out_dir)?;
    md += &frontier_rows("ER IsoFLOP lines", &iso.out_dir)?;
    md += &super::ladder::ladder_section(ropts, out)?;
    let _ = writeln!(md, "\n## Arms\n");
    for (arm, o) in &results {
        let _ = writeln!(
            md,
            "- **{}**: {}. {} runs, report [`{}/report.md`]({}/report.md), {:.0} s this call.",
            arm.name,
            arm.what,
            o.records.len(),
            arm.name,
            arm.name,
            o.wall.as_secs_f64()
        );
    }
    let _ = writeln!(
        md,
        "- **er_isoflop**: Erdős–Rényi 1,024 / 5,120, unbiased, SP, on IsoFLOP lines. {} runs, \
         report [`er_isoflop/report.md`](er_isoflop/report.md), fits in `er_isoflop/fit/`.",
        iso.records.len()
    );
    let _ = writeln!(
        md,
        "\nNot yet part of this reproduction: the larger graphs (8K/50K, 50K/2M) and the \
         learning-rate grid with best of 3 seeds (set `sweep.lr_multipliers` and `sweep.seeds` \
         in an arm's `config.toml`)."
    );
    md += &provenance(ropts, &device, start.elapsed().as_secs_f64());
    let path = out.join("reproduce.md");
    write_file(&path, &md)?;
    Ok(path)
}
