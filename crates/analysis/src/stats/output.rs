//! What `scalinglab stats` shows: the terminal summary and `stats.md` of a [`StatsReport`]
//! ([`StatsReport::summary_text`], [`StatsReport::markdown`]), its plots, and [`write_stats`],
//! which writes them with `stats.json`. Every number here was computed by
//! [`super::command::compute_stats`]; this file only formats and draws.

use std::fmt::Write as _;
use std::path::Path;

use crate::atomic::write_file;
use crate::error::AnalysisError;
use crate::format::{interval, sci, sig};
use crate::plot::{Curve, CurveStyle, PlotSpec, plot_svg};
use crate::stats::command::StatsReport;
use crate::stats::entropy::EntropyFit;

/// The 95% half-width of a batch spread, or `n/a (1 batch)`.
fn half(s: &crate::stats::intrinsic::Spread) -> String {
    s.half_width.map_or_else(|| "n/a (1 batch)".to_string(), |h| sig(h, 2))
}

impl StatsReport {
    /// A terminal summary: statistics, fits with intervals, predictions side by side, horizon
    /// and warnings.
    pub fn summary_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{}", self.title);
        if let (Some(st), Some(c)) = (&self.stream, &self.correlation) {
            let _ = writeln!(
                s,
                "tokens: P = {}, V = {} ({} seen); noise floor ‖C‖_op = {} (P^-1/2 = {}), {} of {} lags resolved",
                sci(st.tokens as f64, 3),
                st.vocab,
                st.tokens_seen,
                sci(c.floor.op_norm, 2),
                sci(c.floor.rule_of_thumb, 2),
                c.lags.iter().filter(|l| l.resolved).count(),
                c.lags.len()
            );
        }
        if let Some(f) = &self.correlation_fit {
            let _ = writeln!(
                s,
                "correlation: β = {} {} over lags {}..{} ({} lags; lag bootstrap {}, stream bootstrap {}){}",
                sig(f.beta, 3),
                interval(f.beta_ci, 3),
                f.lags_used[0],
                f.lags_used[f.lags_used.len() - 1],
                f.lags_used.len(),
                interval(f.beta_ci_lags, 3),
                interval(f.beta_ci_blocks, 3),
                f.frob_fit
                    .as_ref()
                    .map_or(String::new(), |ff| format!("; Frobenius β = {}", sig(ff.alpha, 3)))
            );
        }
        if !self.entropy.is_empty() {
            let est = self.options.entropy.estimator;
            let hs: Vec<String> = self
                .entropy
                .iter()
                .map(|c| {
                    format!(
                        "H_{} = {}{}",
                        c.n,
                        sig(c.value(est), 4),
                        if c.reliable { "" } else { "*" }
                    )
                })
                .collect();
            let _ =
                writeln!(s, "entropy ({}, nats; * undersampled): {}", est.name(), hs.join(", "));
        }
        for f in [&self.ngram_fit, &self.model_fit].into_iter().flatten() {
            let (gi, hi) = decay_intervals(f);
            let _ = writeln!(
                s,
                "entropy decay ({}): γ = {} {gi}, H∞ = {} {hi} over n = {}..{}{}",
                f.source,
                sig(f.gamma, 3),
                sig(f.h_inf, 4),
                f.n_fitted[0],
                f.n_fitted[f.n_fitted.len() - 1],
                binned(f)
            );
        }
        if let Some(id) = &self.intrinsic {
            let _ = writeln!(
                s,
                "intrinsic dimension ({}, {} points in {} batches, D = {}): Levina–Bickel (k = {}) {} ± {} (sd {}), TwoNN (maximum likelihood) {} ± {} (sd {}), TwoNN (Facco regression) {} ± {}; ± is the 95% Student-t half-width over batches{}",
                id.metric.name(),
                id.n_points,
                id.batches.len(),
                id.dim,
                id.k,
                sig(id.mle.mean, 3),
                half(&id.mle),
                sig(id.mle.std, 2),
                sig(id.two_nn.mean, 3),
                half(&id.two_nn),
                sig(id.two_nn.std, 2),
                sig(id.two_nn_regression.mean, 3),
                half(&id.two_nn_regression),
                if id.clustered { "; CLUSTERED: these measure cluster tightness" } else { "" }
            );
        }
        if !self.correlation_predictions.is_empty() || !self.dimension_predictions.is_empty() {
            let _ = writeln!(s, "predictions:");
            for p in &self.correlation_predictions {
                let _ = writeln!(
                    s,
                    "  α_D = γ/(2β)      = {} ± {}   (β = {} ± {}, γ = {} ± {} from {})",
                    sig(p.alpha_d, 3),
                    sig(p.alpha_d_err, 2),
                    sig(p.beta, 3),
                    sig(p.beta_err, 2),
                    sig(p.gamma, 3),
                    sig(p.gamma_err, 2),
                    p.gamma_source
                );
            }
            for p in &self.dimension_predictions {
                let _ = writeln!(
                    s,
                    "  α_D = 2s/(2s+d)   = {} ± {}   α_N = 2s/d = {} ± {}   (d = {} ± {} from {}, s = {})",
                    sig(p.alpha_d, 3),
                    sig(p.alpha_d_err, 2),
                    sig(p.alpha_n, 3),
                    sig(p.alpha_n_err, 2),
                    sig(p.d, 3),
                    sig(p.d_err, 2),
                    p.estimator,
                    sig(p.smoothness, 3)
                );
            }
        }
        if !self.horizon.is_empty() {
            let hs: Vec<String> = self
                .horizon
                .iter()
                .map(|h| {
                    format!(
                        "P = {}: {}{}{}",
                        sci(h.tokens, 2),
                        sig(h.n_star, 3),
                        h.range.map_or(String::new(), |r| format!(
                            " [{}, {}]",
                            sig(r.0, 2),
                            sig(r.1, 2)
                        )),
                        if h.extrapolated {
                            h.max_lag.map_or(
                                " (extrapolated; range from β's interval only)".into(),
                                |l| {
                                    format!(
                                        " (extrapolated past lag {l}; range from β's interval only)"
                                    )
                                },
                            )
                        } else {
                            String::new()
                        }
                    )
                })
                .collect();
            let _ = writeln!(s, "context horizon n*(P) [95% block bootstrap]: {}", hs.join("; "));
        }
        if let Some(c) = &self.collapse {
            let _ = writeln!(
                s,
                "collapse (H∞ = {}, γ = {}, β = {}): spread {} after vs {} before (log10 units)",
                sig(c.h_inf, 4),
                sig(c.gamma, 3),
                sig(c.beta, 3),
                c.spread_collapsed.map_or("–".into(), |v| sig(v, 2)),
                c.spread_raw.map_or("–".into(), |v| sig(v, 2))
            );
        }
        for w in &self.warnings {
            let _ = writeln!(s, "warning: {w}");
        }
        if !self.timings.is_empty() {
            let ts: Vec<String> =
                self.timings.iter().map(|t| format!("{} {:.1} s", t.step, t.seconds)).collect();
            let _ = writeln!(s, "time: {}", ts.join(", "));
        }
        s
    }

    /// The markdown report (`stats.md`).
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# {}\n", self.title);
        let o = &self.options;
        let _ = writeln!(s, "## Inputs\n");
        if let Some(t) = &o.tokens {
            let _ = writeln!(
                s,
                "* tokens: `{}` (V = {}, {:?}, {:?})",
                t.path.display(),
                t.vocab,
                t.width,
                t.format
            );
        }
        if let Some(p) = &o.points {
            let _ = writeln!(s, "* points: `{}`", p.path.display());
        }
        if let Some(p) = &o.position_losses {
            let _ = writeln!(s, "* per-position losses: `{}`", p.display());
        }
        if let Some(p) = &o.loss_table {
            let _ = writeln!(s, "* loss table (collapse): `{}`", p.display());
        }
        let _ = writeln!(s);

        if !self.correlation_predictions.is_empty() || !self.dimension_predictions.is_empty() {
            let _ = writeln!(s, "## Predicted exponents\n");
            let _ = writeln!(s, "| route | α_D | α_N | inputs |\n|---|---|---|---|");
            for p in &self.correlation_predictions {
                let _ = writeln!(
                    s,
                    "| γ/(2β) | {} ± {} | – | β = {} ± {} (correlations), γ = {} ± {} ({}) |",
                    sig(p.alpha_d, 3),
                    sig(p.alpha_d_err, 2),
                    sig(p.beta, 3),
                    sig(p.beta_err, 2),
                    sig(p.gamma, 3),
                    sig(p.gamma_err, 2),
                    p.gamma_source
                );
            }
            for p in &self.dimension_predictions {
                let _ = writeln!(
                    s,
                    "| 2s/(2s+d), 2s/d | {} ± {} | {} ± {} | d = {} ± {} ({}), s = {} |",
                    sig(p.alpha_d, 3),
                    sig(p.alpha_d_err, 2),
                    sig(p.alpha_n, 3),
                    sig(p.alpha_n_err, 2),
                    sig(p.d, 3),
                    sig(p.d_err, 2),
                    p.estimator,
                    sig(p.smoothness, 3)
                );
            }
            let _ = writeln!(
                s,
                "\n± are half-widths of 95% intervals; α_D = γ/(2β) propagates them as \
                 Δα = sqrt((Δγ/2β)² + (γΔβ/2β²)²); the dimension route uses the half-width of the 95% Student-t interval of d̂ over batches. \
                 s = {} is the target's smoothness (a parameter; s = 2 gives Sharma & Kaplan's α_N ≈ 4/d).\n",
                sig(o.smoothness, 3)
            );
        }

        if let (Some(st), Some(c)) = (&self.stream, &self.correlation) {
            let _ = writeln!(s, "## Correlation decay\n");
            let _ = writeln!(
                s,
                "P = {} tokens, V = {} ({} occur). Noise floor (independent tokens with the same unigram frequencies, lags {:?}): \
                 ‖C‖_op = {}, ‖C‖_F = {}; rule of thumb P^-1/2 = {}. A lag is resolved when ‖C(n)‖_op ≥ {} × floor = {}.\n",
                st.tokens,
                st.vocab,
                st.tokens_seen,
                c.floor.lags,
                sci(c.floor.op_norm, 3),
                sci(c.floor.frob_norm, 3),
                sci(c.floor.rule_of_thumb, 3),
                sig(o.correlation.floor_factor, 3),
                sci(c.floor.threshold, 3)
            );
            if let Some(f) = &self.correlation_fit {
                let _ = writeln!(
                    s,
                    "**β = {} {}** (95%: union of the lag bootstrap {} and the stream block bootstrap {} over {} blocks), \
                     A = {}, over lags {}..{} ({} lags; window {}..{}{}). Frobenius norm: β_F = {} {}.\n",
                    sig(f.beta, 3),
                    interval(f.beta_ci, 3),
                    interval(f.beta_ci_lags, 3),
                    interval(f.beta_ci_blocks, 3),
                    c.blocks,
                    sci(f.amplitude, 3),
                    f.lags_used[0],
                    f.lags_used[f.lags_used.len() - 1],
                    f.lags_used.len(),
                    f.window.0,
                    f.window.1,
                    f.first_unresolved.map_or(String::new(), |l| format!(
                        "; stopped at the first unresolved lag {l}"
                    )),
                    f.frob_fit.as_ref().map_or("–".into(), |ff| sig(ff.alpha, 3)),
                    f.frob_fit.as_ref().map_or("–".into(), |ff| interval(ff.alpha_ci, 3))
                );
                if let Some(b) = &f.broken {
                    let _ = writeln!(
                        s,
                        "Broken power law: β = {} below lag {}, β = {} above; ΔBIC = {} in its favour (warning above {}).\n",
                        sig(b.beta_low, 3),
                        sig(b.break_lag, 3),
                        sig(b.beta_high, 3),
                        sig(b.delta_bic(), 3),
                        sig(o.correlation.broken_bic_threshold, 3)
                    );
                }
                if !f.windows.is_empty() {
                    let _ = writeln!(
                        s,
                        "Window sensitivity (least squares in log-log):\n\n| lags | points | β |\n|---|---|---|"
                    );
                    for w in &f.windows {
                        let _ = writeln!(
                            s,
                            "| {}..{} | {} | {} |",
                            w.lo,
                            w.hi,
                            w.n_points,
                            sig(w.beta, 3)
                        );
                    }
                    let _ = writeln!(s);
                }
            }
            let _ = writeln!(s, "![correlation decay](correlation_decay.svg)\n");
            let _ = writeln!(
                s,
                "| lag | ‖C‖_op | ‖C‖_F | distinct pairs | resolved | Lanczos steps |\n|---|---|---|---|---|---|"
            );
            for l in &c.lags {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {}{} |",
                    l.lag,
                    sci(l.op_norm, 4),
                    sci(l.frob_norm, 4),
                    l.nnz,
                    if l.resolved { "yes" } else { "no" },
                    l.lanczos_iterations,
                    if l.lanczos_converged { "" } else { " (not converged)" }
                );
            }
            let _ = writeln!(s);
        }

        if !self.entropy.is_empty() || self.model_fit.is_some() || !self.position_losses.is_empty()
        {
            let _ = writeln!(s, "## Conditional entropy decay\n");
            for f in [&self.ngram_fit, &self.model_fit].into_iter().flatten() {
                let (gi, hi) = decay_intervals(f);
                let _ = writeln!(
                    s,
                    "* {}: **γ = {} {gi}**, H∞ = {} {hi} nats, A = {}, over n = {}..{} ({} lengths{})",
                    f.source,
                    sig(f.gamma, 3),
                    sig(f.h_inf, 4),
                    sig(f.amplitude, 3),
                    f.n_fitted[0],
                    f.n_fitted[f.n_fitted.len() - 1],
                    f.n_fitted.len(),
                    binned(f)
                );
            }
            let _ = writeln!(
                s,
                "\n![entropy decay](entropy_decay.svg) ![excess entropy](entropy_excess.svg)\n"
            );
            if !self.entropy.is_empty() {
                let _ = writeln!(
                    s,
                    "n-gram estimates (nats): H_n = Ĥ(n+1-grams) − Ĥ(n-grams). Fits use the {} estimator on reliable rows \
                     (distinct (n+1)-grams ≤ {} × samples).\n",
                    o.entropy.estimator.name(),
                    sig(o.entropy.max_distinct_ratio, 2)
                );
                let _ = writeln!(
                    s,
                    "| n | plug-in | Miller–Madow | Grassberger | samples | distinct contexts | distinct (n+1)-grams | singletons | reliable |\n|---|---|---|---|---|---|---|---|---|"
                );
                for c in &self.entropy {
                    let _ = writeln!(
                        s,
                        "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                        c.n,
                        sig(c.plugin, 5),
                        sig(c.miller_madow, 5),
                        sig(c.grassberger, 5),
                        c.samples,
                        c.contexts,
                        c.distinct,
                        sig(c.singleton_fraction, 2),
                        if c.reliable { "yes" } else { "no" }
                    );
                }
                let _ = writeln!(s);
            }
        }

        if let Some(id) = &self.intrinsic {
            let _ = writeln!(s, "## Intrinsic dimension\n");
            let _ = writeln!(
                s,
                "{} distinct points ({} exact repeats removed) in D = {} dimensions, {} batches, {} distance, k = {}. Levina–Bickel (MacKay–Ghahramani averaging of \
                 inverses): **{} ± {}** (sd over batches {}); TwoNN, maximum likelihood: **{} ± {}** (sd {}); TwoNN, Facco et al.'s regression (top 10% of μ dropped): **{} ± {}**. ± is the half-width of the 95% Student-t interval over batches, t(0.975, batches − 1) × the standard error (none for one batch).{}\n",
                id.n_points,
                id.duplicates,
                id.dim,
                id.batches.len(),
                id.metric.name(),
                id.k,
                sig(id.mle.mean, 4),
                half(&id.mle),
                sig(id.mle.std, 2),
                sig(id.two_nn.mean, 4),
                half(&id.two_nn),
                sig(id.two_nn.std, 2),
                sig(id.two_nn_regression.mean, 4),
                half(&id.two_nn_regression),
                if id.clustered {
                    "\n\n**The points form tight clusters** (the largest gap in each point's \
                     neighbour distances dominates its range): these estimates measure the \
                     clusters' tightness, not the dimension of a manifold, and no prediction is \
                     made from them."
                } else {
                    ""
                }
            );
            let _ = writeln!(s, "![intrinsic dimension](intrinsic_dimension.svg)\n");
            let _ = writeln!(
                s,
                "| batch | points | Levina–Bickel | TwoNN (ML) | TwoNN (regression) | median largest-gap share (clusters if high) |\n|---|---|---|---|---|---|"
            );
            for (i, b) in id.batches.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} (null {}) |",
                    i + 1,
                    b.points,
                    sig(b.mle.value, 4),
                    sig(b.two_nn.value, 4),
                    sig(b.two_nn_regression.value, 4),
                    sig(b.clusters.median_gap_share, 3),
                    sig(b.clusters.null_median, 3)
                );
            }
            let _ = writeln!(s);
        }

        if !self.horizon.is_empty() {
            let _ = writeln!(
                s,
                "## Context horizon\n\nn*(P): the first lag where the measured (bias-corrected) ‖C(n)‖_op falls below P^-1/2, interpolated log-log between measured lags. A value past the largest measured lag is extrapolated with β and marked so; measure more lags (`--lags`) to replace it. Range: for a measured n*, the 95% stream block bootstrap (its coverage of the exact crossing is a test: `tests/coverage_correlation.rs`); for an extrapolated n*, n* at the ends of β's 95% interval, which leaves out the error of carrying the power law past the measured lags and so is not a calibrated interval.\n\n| P | n* | 95% range | how |\n|---|---|---|---|"
            );
            for h in &self.horizon {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} |",
                    sci(h.tokens, 3),
                    sig(h.n_star, 3),
                    h.range.map_or("–".into(), |r| format!("{} – {}", sig(r.0, 3), sig(r.1, 3))),
                    if h.extrapolated {
                        h.max_lag
                            .map_or("extrapolated".into(), |l| format!("extrapolated past lag {l}"))
                    } else {
                        "measured".to_string()
                    }
                );
            }
            let _ = writeln!(s);
        }

        if let Some(c) = &self.collapse {
            let _ = writeln!(
                s,
                "## Collapse test\n\n(L_n − H∞)·n^γ against P/n^(2β) with H∞ = {}, γ = {}, β = {}. Spread between data sizes \
                 (RMS of log10 differences where curves overlap): {} collapsed vs {} for L_n − H∞ against n. {} points with L_n ≤ H∞ omitted.\n\n![collapse](collapse.svg)\n",
                sig(c.h_inf, 4),
                sig(c.gamma, 3),
                sig(c.beta, 3),
                c.spread_collapsed.map_or("–".into(), |v| sig(v, 3)),
                c.spread_raw.map_or("–".into(), |v| sig(v, 3)),
                c.dropped
            );
        }

        if !self.warnings.is_empty() {
            let _ = writeln!(s, "## Warnings\n");
            for w in &self.warnings {
                let _ = writeln!(s, "* {w}");
            }
            let _ = writeln!(s);
        }
        if !self.timings.is_empty() {
            let _ = writeln!(s, "## Timings\n\n| step | seconds |\n|---|---|");
            for t in &self.timings {
                let _ = writeln!(s, "| {} | {:.2} |", t.step, t.seconds);
            }
        }
        s
    }
}

/// Writes the plots, `stats.md` and `stats.json` of `report` into `out_dir` (created if
/// needed) and records the file names in `report.files`.
///
/// # Errors
///
/// [`AnalysisError::Io`], [`AnalysisError::Plot`] or [`AnalysisError::Json`] naming the file
/// that cannot be created or written.
pub fn write_stats(report: &mut StatsReport, out_dir: &Path) -> Result<(), AnalysisError> {
    std::fs::create_dir_all(out_dir)
        .map_err(|e| AnalysisError::io("cannot create output directory", out_dir, e))?;
    let mut files = Vec::new();
    let mut plot = |name: &str, spec: PlotSpec| -> Result<(), AnalysisError> {
        plot_svg(&out_dir.join(name), &spec)?;
        files.push(name.to_string());
        Ok(())
    };
    if let Some(spec) = correlation_plot(report) {
        plot("correlation_decay.svg", spec)?;
    }
    if let Some((a, b)) = entropy_plots(report) {
        plot("entropy_decay.svg", a)?;
        plot("entropy_excess.svg", b)?;
    }
    if let Some(spec) = id_plot(report) {
        plot("intrinsic_dimension.svg", spec)?;
    }
    if let Some(spec) = collapse_plot(report) {
        plot("collapse.svg", spec)?;
    }
    files.push("stats.md".into());
    files.push("stats.json".into());
    report.files = files;
    write_file(&out_dir.join("stats.md"), &report.markdown())?;
    let json_path = out_dir.join("stats.json");
    let json = serde_json::to_string_pretty(report)
        .map_err(|e| AnalysisError::Json { path: json_path.clone(), source: e })?;
    write_file(&json_path, &json)
}

/// `count` points of `f` log-spaced over `[lo, hi]`.
fn curve_points(lo: f64, hi: f64, count: usize, f: impl Fn(f64) -> f64) -> Vec<(f64, f64)> {
    (0..count)
        .map(|i| {
            let x = (lo.ln() + (hi.ln() - lo.ln()) * i as f64 / (count - 1) as f64).exp();
            (x, f(x))
        })
        .collect()
}

fn correlation_plot(r: &StatsReport) -> Option<PlotSpec> {
    let c = r.correlation.as_ref()?;
    let mut curves = vec![
        Curve {
            label: "‖C(n)‖_op".into(),
            points: c
                .lags
                .iter()
                .filter(|l| l.resolved)
                .map(|l| (l.lag as f64, l.op_norm))
                .collect(),
            style: CurveStyle::Markers,
        },
        Curve {
            label: "‖C(n)‖_op below threshold".into(),
            points: c
                .lags
                .iter()
                .filter(|l| !l.resolved)
                .map(|l| (l.lag as f64, l.op_norm))
                .collect(),
            style: CurveStyle::Markers,
        },
        Curve {
            label: "‖C(n)‖_F".into(),
            points: c.lags.iter().map(|l| (l.lag as f64, l.frob_norm)).collect(),
            style: CurveStyle::Markers,
        },
    ];
    if let Some(f) = &r.correlation_fit {
        let (lo, hi) = (f.lags_used[0] as f64, f.lags_used[f.lags_used.len() - 1] as f64);
        curves.push(Curve {
            label: format!("fit: β = {} {}", sig(f.beta, 3), interval(f.beta_ci, 2)),
            points: curve_points(lo, hi, 50, |x| f.op_fit.predict(x)),
            style: CurveStyle::Line,
        });
        if let Some(b) =
            f.broken.as_ref().filter(|b| b.delta_bic() > r.options.correlation.broken_bic_threshold)
        {
            curves.push(Curve {
                label: format!("broken law: β = {} / {}", sig(b.beta_low, 2), sig(b.beta_high, 2)),
                points: curve_points(lo, hi, 80, |x| b.predict(x)),
                style: CurveStyle::Dashed,
            });
        }
    }
    Some(PlotSpec {
        title: format!("{}: correlation decay", r.title),
        x_label: "lag n".into(),
        y_label: "norm of C(n)".into(),
        log_x: true,
        log_y: true,
        curves,
        hlines: vec![
            ("noise floor ‖C‖_op".into(), c.floor.op_norm),
            (
                format!("threshold ({}× floor)", sig(r.options.correlation.floor_factor, 2)),
                c.floor.threshold,
            ),
            ("P^-1/2".into(), c.floor.rule_of_thumb),
        ],
    })
}

fn entropy_plots(r: &StatsReport) -> Option<(PlotSpec, PlotSpec)> {
    if r.entropy.is_empty() && r.position_losses.is_empty() {
        return None;
    }
    let est = r.options.entropy.estimator;
    let mut curves = Vec::new();
    let mut excess = Vec::new();
    let mut hlines = Vec::new();
    if !r.entropy.is_empty() {
        let pts = |ok: bool| {
            r.entropy
                .iter()
                .filter(|c| c.n >= 1 && c.reliable == ok)
                .map(|c| (c.n as f64, c.value(est)))
                .collect()
        };
        curves.push(Curve {
            label: format!("n-gram {}", est.name()),
            points: pts(true),
            style: CurveStyle::Markers,
        });
        curves.push(Curve {
            label: "n-gram, undersampled".into(),
            points: pts(false),
            style: CurveStyle::Markers,
        });
    }
    if !r.position_losses.is_empty() {
        curves.push(Curve {
            label: "model per-position loss".into(),
            points: r
                .position_losses
                .iter()
                .enumerate()
                .skip(1)
                .map(|(n, l)| (n as f64, *l))
                .collect(),
            style: CurveStyle::Markers,
        });
    }
    for (f, data) in [
        (&r.ngram_fit, r.entropy.iter().map(|c| c.value(est)).collect::<Vec<_>>()),
        (&r.model_fit, r.position_losses.clone()),
    ] {
        let Some(f) = f else { continue };
        let (lo, hi) = (f.n_fitted[0] as f64, f.n_fitted[f.n_fitted.len() - 1] as f64);
        let label = format!("fit {}: γ = {}", f.source, sig(f.gamma, 3));
        curves.push(Curve {
            label: label.clone(),
            points: curve_points(lo, hi, 60, |x| f.fit.predict(x)),
            style: CurveStyle::Line,
        });
        hlines.push((format!("H∞ = {} ({})", sig(f.h_inf, 4), f.source), f.h_inf));
        excess.push(Curve {
            label: format!("{} − H∞", f.source),
            points: data.iter().enumerate().skip(1).map(|(n, h)| (n as f64, h - f.h_inf)).collect(),
            style: CurveStyle::Markers,
        });
        excess.push(Curve {
            label,
            points: curve_points(lo, hi, 60, |x| f.fit.predict(x) - f.h_inf),
            style: CurveStyle::Line,
        });
    }
    if excess.is_empty() {
        // No fit: show the excess over the smallest value seen, for orientation.
        let all: Vec<(f64, f64)> = curves.iter().flat_map(|c| c.points.clone()).collect();
        let m = all.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        for c in &curves {
            excess.push(Curve {
                label: format!("{} − min", c.label),
                points: c.points.iter().map(|p| (p.0, p.1 - m)).collect(),
                style: c.style,
            });
        }
    }
    let a = PlotSpec {
        title: format!("{}: conditional entropy", r.title),
        x_label: "context length n".into(),
        y_label: "H_n (nats)".into(),
        log_x: true,
        log_y: false,
        curves,
        hlines,
    };
    let b = PlotSpec {
        title: format!("{}: excess entropy", r.title),
        x_label: "context length n".into(),
        y_label: "H_n − H∞ (nats)".into(),
        log_x: true,
        log_y: true,
        curves: excess,
        hlines: Vec::new(),
    };
    Some((a, b))
}

fn id_plot(r: &StatsReport) -> Option<PlotSpec> {
    let id = r.intrinsic.as_ref()?;
    let pts = |f: &dyn Fn(&crate::stats::intrinsic::BatchEstimate) -> f64| -> Vec<(f64, f64)> {
        id.batches.iter().enumerate().map(|(i, b)| ((i + 1) as f64, f(b))).collect()
    };
    Some(PlotSpec {
        title: format!("{}: intrinsic dimension per batch", r.title),
        x_label: "batch".into(),
        y_label: format!("estimated dimension ({})", id.metric.name()),
        log_x: false,
        log_y: false,
        curves: vec![
            Curve {
                label: format!("Levina–Bickel k = {}", id.k),
                points: pts(&|b| b.mle.value),
                style: CurveStyle::Markers,
            },
            Curve {
                label: "TwoNN".into(),
                points: pts(&|b| b.two_nn.value),
                style: CurveStyle::Markers,
            },
        ],
        hlines: vec![
            (format!("mean Levina–Bickel = {}", sig(id.mle.mean, 3)), id.mle.mean),
            (format!("mean TwoNN = {}", sig(id.two_nn.mean, 3)), id.two_nn.mean),
        ],
    })
}

fn collapse_plot(r: &StatsReport) -> Option<PlotSpec> {
    let c = r.collapse.as_ref()?;
    Some(PlotSpec {
        title: format!("{}: collapse (γ = {}, β = {})", r.title, sig(c.gamma, 3), sig(c.beta, 3)),
        x_label: "P / n^(2β)".into(),
        y_label: "(L_n − H∞) · n^γ".into(),
        log_x: true,
        log_y: true,
        curves: c
            .series
            .iter()
            .map(|s| Curve {
                label: format!("P = {}", sci(s.tokens, 2)),
                points: s.points.clone(),
                style: CurveStyle::Markers,
            })
            .collect(),
        hlines: Vec::new(),
    })
}

/// The printed 95% intervals of an entropy-decay fit's `γ` and `H∞`; none when `H∞` sits at a
/// bound, where `γ` is set by the bound and the bootstrap does not describe its error.
fn decay_intervals(f: &EntropyFit) -> (String, String) {
    if f.at_bound {
        let none = "(no interval: H∞ at its bound)".to_string();
        (none.clone(), none)
    } else {
        (interval(f.gamma_ci, 3), interval(f.h_inf_ci, 4))
    }
}

/// `", averaged in M √2-spaced bins"` when the fit binned its lengths.
fn binned(f: &EntropyFit) -> String {
    if f.points < f.n_fitted.len() {
        format!(", averaged in {} √2-spaced bins", f.points)
    } else {
        String::new()
    }
}
