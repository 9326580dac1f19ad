//! `scalinglab reproduce graphs`: Barkeshli, Alfarano & Gromov's random-walk experiments at
//! laptop scale, with the prediction (the exact entropy rate as the irreducible loss) next to
//! the measurement (the fitted offset and exponents) for each graph family, and SP against
//! muP at equal N.

use std::fmt::Write as _;
use std::path::PathBuf;

use scalinglab_data::{GraphSpec, WalkBias};
use scalinglab_model::Parameterization;

use crate::{ReproduceOptions, fmt_fit, provenance};
use scalinglab_training::{
    ExperimentConfig, ExperimentOutcome, RunOptions, TrainingError, run_experiment,
};

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
        let mut c = crate::walk_base();
        // The base grid without its largest D, so that the learning-rate grid keeps
        // the command under 30 minutes; `--scale 2` puts it back.
        c.sweep.tokens = vec![51_200, 102_400, 204_800, 409_600];
        if quick {
            c.sweep.widths = vec![16, 32, 64];
            c.sweep.tokens.truncate(3);
        }
        grow(&mut c.sweep.widths, scale);
        grow(&mut c.sweep.tokens, scale);
        c.sweep.lr_multipliers = LR_GRID.to_vec();
        c.sweep.seeds = seeds(scale);
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

/// The learning-rate grid of every grid arm (multipliers of the base rate at each
/// width): each (N, D) cell keeps its best run, as the paper's "best of the LR grid and of
/// seeds". A three-rate run (×0.5, ×1, ×2) of all four arms found ×2 best in 1 of 64 cells,
/// by 0.003 nats, at 36% of the time; so the laptop grid stops at ×1.
const LR_GRID: [f64; 2] = [0.5, 1.0];

/// Seeds per learning rate: one on a laptop (the rate grid already doubles the arms' time);
/// the paper's three from `--scale 2` on.
fn seeds(scale: f64) -> Vec<u64> {
    if scale >= 2.0 { vec![0, 1, 2] } else { Vec::new() }
}

/// The widths of an arm's runs, ascending.
fn widths(o: &ExperimentOutcome) -> Vec<usize> {
    let mut w: Vec<usize> = o.records.iter().map(|r| r.d_model).collect();
    w.sort_unstable();
    w.dedup();
    w
}

/// An arm's best run (lowest held-out loss over learning rates and seeds) at `width` and `d`.
fn best_at(o: &ExperimentOutcome, width: usize, d: u64) -> Option<&scalinglab_analysis::RunRecord> {
    o.records
        .iter()
        .filter(|r| r.status == scalinglab_analysis::RunStatus::Ok)
        .filter(|r| r.tokens == d && r.d_model == width)
        .min_by(|a, b| a.eval_loss.total_cmp(&b.eval_loss))
}

/// An arm's finished runs by cell (width, D): each run's learning-rate multiplier and loss.
type Cells = std::collections::BTreeMap<(usize, u64), Vec<(f64, f64)>>;

fn cells_of(arm: &Arm, o: &ExperimentOutcome) -> Cells {
    let mut cells = Cells::new();
    for r in o.records.iter().filter(|r| r.status == scalinglab_analysis::RunStatus::Ok) {
        cells
            .entry((r.d_model, r.tokens))
            .or_default()
            .push((multiplier(&arm.cfg, r), r.eval_loss));
    }
    cells
}

/// "1 seed" or "3 seeds".
fn seed_count(scale: f64) -> String {
    match seeds(scale).len().max(1) {
        1 => "1 seed".into(),
        n => format!("{n} seeds"),
    }
}

/// The learning-rate multiplier of a run of `cfg` (its rate over the width's base rate).
fn multiplier(cfg: &ExperimentConfig, r: &scalinglab_analysis::RunRecord) -> f64 {
    let m = r.lr / cfg.lr_for_width(r.d_model);
    LR_GRID.iter().copied().min_by(|a, b| (a - m).abs().total_cmp(&(b - m).abs())).unwrap_or(m)
}

/// The learning-rate section: at the largest D, each width's loss at every multiplier (best of
/// its seeds) for SP and muP, with the winner in bold; then, per arm, what the grid bought
/// over ×1 and (with several seeds) how far apart a cell's seeds land.
fn learning_rate_section(results: &[(Arm, ExperimentOutcome)], scale: f64) -> String {
    let mut md = String::new();
    let grid = LR_GRID.iter().map(|m| format!("×{m}")).collect::<Vec<_>>().join(", ");
    let _ = writeln!(
        md,
        "\n## Learning rates and seeds\n\n\
         Every cell (N, D) of every arm trains at {} learning rates ({grid} the base rate, \
         which is 0.03 at width 16 and scales as 1/width under SP) with {}, and keeps \
         its lowest held-out loss (one seed on a laptop; `--scale 2` or more trains the \
         paper's three). Below, at the largest D: each width's loss at each multiplier (best \
         of the seeds), the winner in bold. Under muP the best multiplier should not move \
         with width (a rate tuned on a small model transfers). The SP arm already scales its \
         rate as 1/width, muP's rule for Adam's hidden matrices but not for the embeddings or \
         the output layer, so its best multiplier may drift. The grid stops at ×1 because a \
         three-rate run with ×2 (all four arms, 64 cells) found ×2 best in one cell, by 0.003 \
         nats, at 36% of the time; where ×0.5 wins, the optimum may lie lower still.\n",
        LR_GRID.len(),
        seed_count(scale)
    );
    let _ =
        writeln!(md, "| width | {} | {} |\n|---|---|---|", results[0].0.name, results[3].0.name);
    let row = |cells: &Cells, width: usize, max_d: u64| -> String {
        let runs = cells.get(&(width, max_d)).map_or(&[][..], Vec::as_slice);
        let loss: Vec<f64> = LR_GRID
            .iter()
            .map(|&m| runs.iter().filter(|r| r.0 == m).map(|r| r.1).fold(f64::INFINITY, f64::min))
            .collect();
        let best = loss.iter().copied().fold(f64::INFINITY, f64::min);
        loss.iter()
            .zip(LR_GRID)
            .map(|(&l, m)| match l {
                l if !l.is_finite() => format!("×{m}: –"),
                l if l == best => format!("**×{m}: {l:.4}**"),
                l => format!("×{m}: {l:.4}"),
            })
            .collect::<Vec<_>>()
            .join(" · ")
    };
    let cells: Vec<Cells> = results.iter().map(|(arm, o)| cells_of(arm, o)).collect();
    let max_d = results[0].1.records.iter().map(|r| r.tokens).max().unwrap_or(0);
    for w in widths(&results[0].1) {
        let _ =
            writeln!(md, "| {w} | {} | {} |", row(&cells[0], w, max_d), row(&cells[3], w, max_d));
    }
    let many_seeds = seeds(scale).len() > 1;
    let _ = writeln!(
        md,
        "\nWhat the grid bought, per arm over all its cells: how often the lower rate won, and \
         how much lower the cell's best loss is than its loss at ×1{}.\n\n\
         | arm | cells | best below ×1 | mean gain over ×1 (nats) | largest gain |{}\n\
         |---|---|---|---|---|{}",
        if many_seeds {
            "; and how far apart the seeds of a cell land at its best rate"
        } else {
            ""
        },
        if many_seeds { " mean seed spread | largest spread |" } else { "" },
        if many_seeds { "---|---|" } else { "" },
    );
    let max_of = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let mean_of = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    for ((arm, _), cells) in results.iter().zip(&cells) {
        let (mut lower_wins, mut gains, mut spreads) = (0, Vec::new(), Vec::new());
        for runs in cells.values() {
            let Some(&(m_best, best)) = runs.iter().min_by(|a, b| a.1.total_cmp(&b.1)) else {
                continue;
            };
            lower_wins += usize::from(m_best < 1.0);
            let at_one =
                runs.iter().filter(|(m, _)| *m == 1.0).map(|r| r.1).fold(f64::INFINITY, f64::min);
            if at_one.is_finite() {
                gains.push(at_one - best);
            }
            let seeds: Vec<f64> = runs.iter().filter(|(m, _)| *m == m_best).map(|r| r.1).collect();
            if seeds.len() > 1 {
                spreads.push(seeds.iter().copied().fold(f64::NEG_INFINITY, f64::max) - best);
            }
        }
        let _ = write!(
            md,
            "| {} | {} | {lower_wins} | {:.3} | {:.3} |",
            arm.name,
            cells.len(),
            mean_of(&gains),
            max_of(&gains)
        );
        if many_seeds {
            let _ = write!(md, " {:.3} | {:.3} |", mean_of(&spreads), max_of(&spreads));
        }
        md.push('\n');
    }
    md
}

/// The IsoFLOP arm: the unbiased ER family along lines D = C/(6N) (as `configs/isoflop.toml`),
/// so that the IsoFLOP parabolas (Chinchilla's approach 2) have bracketed minima.
fn isoflop_arm(quick: bool, scale: f64) -> ExperimentConfig {
    let mut c = crate::walk_base();
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

/// Where each fitted offset lies against its arm's floor H, checked fit by fit: the claim "E
/// sits at or above H" is only made for a fit whose interval says so.
fn offsets_against_floor(results: &[(Arm, ExperimentOutcome)]) -> String {
    let mut md = String::from(
        "\n**Offsets against the floor, fit by fit** (each fitted E's 95% interval against H):\n\n",
    );
    let (mut above, mut total) = (0, 0);
    for (arm, o) in results {
        let h = o.entropy_rate;
        for (law, fit) in [("L(N)", o.fits.loss_vs_n.as_ref()), ("L(D)", o.fits.loss_vs_d.as_ref())]
        {
            let Some(f) = fit else { continue };
            let place = match f.e_ci {
                _ if !h.is_finite() => "no floor to compare with".to_string(),
                None => format!("E = {:.3} has no interval", f.e),
                Some((lo, hi)) if hi < h => {
                    format!("E = {:.3} [{lo:.3}, {hi:.3}] lies **below** H = {h:.4}", f.e)
                }
                Some((lo, hi)) if lo > h => {
                    above += 1;
                    format!("E = {:.3} [{lo:.3}, {hi:.3}] lies above H = {h:.4}", f.e)
                }
                Some((lo, hi)) => {
                    above += 1;
                    format!("E = {:.3} [{lo:.3}, {hi:.3}] contains H = {h:.4}", f.e)
                }
            };
            total += 1;
            let _ = writeln!(md, "- {} {law}: {place}", arm.name);
        }
    }
    let _ = writeln!(
        md,
        "\n{above} of {total} fitted offsets are at or above their floor within their intervals{}.",
        if above == total {
            ""
        } else {
            "; the others are not, so the fits' offsets are not all consistent with the theory"
        }
    );
    md
}

/// Runs (or resumes) every arm into `out/<arm>/` and writes `out/reproduce.md`, whose first
/// table sets the predicted irreducible loss (the exact entropy rate) beside the fitted offset
/// and the exponents. `quick` trains a 3 × 3 grid per arm instead of the base 4 × 5;
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
        device = crate::trained_on(&o);
        results.push((arm, o));
    }
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Random walks on graphs, reproduced at laptop scale\n\n\
         After Barkeshli, Alfarano & Gromov (arXiv 2601.10684): 2-layer decoders, context 50, one \
         epoch, AdamW (weight decay 0.01, 2% warmup, cosine), each (N, D) the best of {} \
         learning rates × {}. **Prediction:** the best possible loss is the walk's exact \
         entropy rate H, so a fitted offset E should sit at or above H. \
         **Measurement:** L = E + A·x^(−α) fitted to the held-out losses in N (at the largest D) \
         and in D (at the largest N), with 95% bootstrap intervals; the same with E fixed at H.\n",
        LR_GRID.len(),
        seed_count(ropts.scale)
    );
    let _ = writeln!(
        md,
        "| arm | H (predicted E) | fitted E, L(N) | α_N | α_N, E = H | fitted E, L(D) | α_D | α_D, E = H | best loss |\n|---|---|---|---|---|---|---|---|---|"
    );
    for (arm, o) in &results {
        let f = &o.fits;
        let best = crate::best_loss(o);
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
    md += &offsets_against_floor(&results);
    let _ = writeln!(
        md,
        "\n## SP against muP at equal N (largest D, best learning rate and seed)\n\n| N (non-embedding) | SP loss | muP loss | muP − SP |\n|---|---|---|---|"
    );
    let (sp, mup) = (&results[0].1, &results[3].1);
    let max_d = sp.records.iter().map(|r| r.tokens).max().unwrap_or(0);
    for w in widths(sp) {
        if let (Some(r), Some(m)) = (best_at(sp, w, max_d), best_at(mup, w, max_d)) {
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
    md += &learning_rate_section(&results, ropts.scale);
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
    md += &crate::ladder::ladder_section(ropts, out)?;
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
        "\nNot part of this laptop reproduction: the paper's larger graphs (8K nodes / 50K \
         edges, 50K / 2M), whose vocabularies alone need models and token budgets far beyond \
         30 minutes on two cores (set `data.walk.graph` in an arm's `config.toml` and run it \
         with `--scale` on a GPU or a cluster), and its 14-rate grid with 3 seeds (here {} \
         rates and {}).",
        LR_GRID.len(),
        seed_count(ropts.scale)
    );
    md += &provenance(ropts, &device, start.elapsed().as_secs_f64());
    let path = crate::write_report(out, &md)?;
    Ok(path)
}
