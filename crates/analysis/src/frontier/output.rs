//! The report's renderings: terminal summary, markdown and SVG plots.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use super::analysis::{FitReport, MethodDetail, MethodReport};
use super::answers::{Answers, OptimumAnswer, OptimumLoss, PredictedLoss};
use super::{Estimate, Method, logspace};
use crate::error::AnalysisError;
use crate::format::{interval, sci, sig};
use crate::plot::{Curve, CurveStyle, PALETTE, PlotSpec, plot_svg};

fn est(e: &Estimate, digits: usize) -> String {
    match e.ci {
        Some(_) => format!("{} {}", sig(e.value, digits), interval(e.ci, digits)),
        None => sig(e.value, digits),
    }
}

fn first_line(s: &str, max: usize) -> String {
    let s = s.lines().next().unwrap_or_default();
    if s.chars().count() > max {
        format!("{}…", s.chars().take(max).collect::<String>())
    } else {
        s.to_string()
    }
}

impl FitReport {
    /// A plain-text summary for the terminal: the methods side by side with intervals,
    /// approach 3's parameters, the extrapolation check and warnings.
    pub fn summary_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{}: {} points ({} model sizes × {} token counts), C from {} to {}",
            if self.input.is_empty() { self.source.as_str() } else { self.input.as_str() },
            self.points.len(),
            self.n_sizes,
            self.n_token_counts,
            sci(self.compute_range.0, 2),
            sci(self.compute_range.1, 2)
        );
        let _ = writeln!(s, "N: {}; {}", self.conventions.params, self.conventions.compute);
        let _ = writeln!(s, "training curves: {}", self.curves);
        let _ = writeln!(
            s,
            "\n{:<24} {:<24} {:<24} D/N at C = {}",
            "method",
            "N_opt ∝ C^a",
            "D_opt ∝ C^b",
            sci(self.reference_compute, 2)
        );
        for m in &self.methods {
            match (&m.allocation, &m.error) {
                (Some(a), _) => {
                    let _ = writeln!(
                        s,
                        "{:<24} {:<24} {:<24} {}",
                        m.method.title(),
                        est(&a.n_exponent, 3),
                        est(&a.d_exponent, 3),
                        est(&a.tokens_per_param, 3)
                    );
                }
                (None, Some(e)) => {
                    let _ = writeln!(
                        s,
                        "{:<24} not available: {}",
                        m.method.title(),
                        first_line(e, 220)
                    );
                }
                (None, None) => {}
            }
        }
        if let Some(j) = &self.joint {
            let _ = writeln!(
                s,
                "\napproach 3: E = {}, A = {}, B = {}, α = {}, β = {}",
                est(&j.e, 3),
                est(&j.a, 3),
                est(&j.b, 3),
                est(&j.alpha, 3),
                est(&j.beta, 3)
            );
        }
        if let Some(k) = &self.kaplan {
            let _ = writeln!(s, "{}", kaplan_line(k, self.approach3_rms()));
        } else if let Some(e) = &self.kaplan_error {
            let _ = writeln!(s, "Kaplan law not fitted: {}", first_line(e, 200));
        }
        if let Some(c) = &self.constrained {
            let _ = writeln!(s, "{}", constrained_line(c));
        } else if let Some(e) = &self.constrained_error {
            let _ = writeln!(s, "data-constrained law not fitted: {}", first_line(e, 200));
        }
        if let Some(a) = &self.answers {
            s.push_str(&answers_text(a));
        }
        if let Some(x) = &self.extrapolation {
            let _ = writeln!(
                s,
                "extrapolation: approach 3 fitted on N < {} ({} points) predicts the {} held-out runs with mean |error| \
                 {:.2}% (max {:.2}%)",
                sci(x.held_out_from_n, 2),
                x.fit_points,
                x.runs.len(),
                100.0 * x.mean_abs_rel_error,
                100.0 * x.max_abs_rel_error
            );
        } else if let Some(e) = &self.extrapolation_error {
            let _ = writeln!(s, "extrapolation check not run: {}", first_line(e, 220));
        }
        let boots: Vec<String> = self
            .methods
            .iter()
            .filter(|m| m.error.is_none())
            .map(|m| format!("{} {}/{}", m.method, m.bootstrap_ok, m.bootstrap_requested))
            .collect();
        if self.settings.bootstrap > 0 {
            let scheme = match self.settings.resampling {
                _ if self.bootstrap_scheme.contains("fallback") => "runs (fallback)",
                super::Resampling::Residuals => "residuals, fixed design",
                super::Resampling::Runs => "runs",
            };
            let _ = writeln!(s, "bootstrap resamples fitted ({scheme}): {}", boots.join(", "));
        }
        for w in &self.warnings {
            let _ = writeln!(s, "warning: {w}");
        }
        let _ = writeln!(s, "wall time {:.1} s", self.wall_seconds);
        s
    }

    /// The markdown report (`fit.md`).
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(
            md,
            "# {}\n",
            if self.title.is_empty() { "Compute-optimal fits" } else { &self.title }
        );
        let _ = writeln!(
            md,
            "Input: `{}` ({}): {} points, {} model sizes × {} token counts, C from {} to {} FLOPs.\n",
            self.input,
            self.source,
            self.points.len(),
            self.n_sizes,
            self.n_token_counts,
            sci(self.compute_range.0, 3),
            sci(self.compute_range.1, 3)
        );
        let _ = writeln!(md, "Counting conventions:\n");
        let _ = writeln!(md, "- N: {}", self.conventions.params);
        let _ = writeln!(md, "- C: {}", self.conventions.compute);
        let _ = writeln!(md, "- training curves: {}\n", self.curves);

        let _ = writeln!(md, "## Compute-optimal allocation, four methods side by side\n");
        let _ = writeln!(
            md,
            "`N_opt ∝ C^a`, `D_opt ∝ C^b`; `N_opt`, `D_opt` and tokens per parameter at the reference budget C = {}. \
             Brackets: 95% bootstrap intervals. Bootstrap: {}.\n",
            sci(self.reference_compute, 3),
            esc(&self.bootstrap_scheme)
        );
        let _ = writeln!(
            md,
            "| method | a (N_opt) | b (D_opt) | N_opt | D_opt | D/N | resamples fitted | notes |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
        for m in &self.methods {
            let notes = m.notes.iter().map(|n| esc(n)).collect::<Vec<_>>().join("; ");
            match &m.allocation {
                Some(a) => {
                    let _ = writeln!(
                        md,
                        "| {} | {} | {} | {} | {} | {} | {}/{} | {} |",
                        m.method.title(),
                        est(&a.n_exponent, 3),
                        est(&a.d_exponent, 3),
                        est(&a.n_opt, 3),
                        est(&a.d_opt, 3),
                        est(&a.tokens_per_param, 3),
                        m.bootstrap_ok,
                        m.bootstrap_requested,
                        notes
                    );
                }
                None => {
                    let _ = writeln!(
                        md,
                        "| {} | not available | | | | | | {} |",
                        m.method.title(),
                        esc(m.error.as_deref().unwrap_or(""))
                    );
                }
            }
        }
        md.push('\n');
        for m in &self.methods {
            if !m.bootstrap_failures.is_empty() {
                let _ = writeln!(
                    md,
                    "- {} resamples that failed: {}",
                    m.method,
                    esc(&m.bootstrap_failures.join("; "))
                );
            }
        }
        md.push('\n');

        if let (Some(j), Some(fit)) =
            (&self.joint, self.method(Method::Approach3).and_then(joint_fit))
        {
            let _ = writeln!(md, "## Approach 3: L(N, D) = E + A/N^α + B/D^β\n");
            let _ = writeln!(
                md,
                "Fitted as LSE(a − α ln N, b − β ln D, e) against ln L with a Huber loss (δ = {}), by L-BFGS from {} \
                 starts (Chinchilla's grid has 4,500); {} converged and {} reached the best objective Σ Huber = {}. \
                 RMS log residual {}.\n",
                fit.huber_delta,
                fit.starts,
                fit.converged_starts,
                fit.starts_at_best,
                sci(fit.objective, 4),
                sig(fit.rms_log_residual, 3)
            );
            let _ = writeln!(md, "| parameter | value | 95% CI |");
            let _ = writeln!(md, "|---|---|---|");
            for (name, e) in
                [("E", j.e), ("A", j.a), ("B", j.b), ("α", j.alpha), ("β", j.beta), ("G", j.g)]
            {
                let _ = writeln!(md, "| {name} | {} | {} |", sig(e.value, 4), interval(e.ci, 4));
            }
            md.push('\n');
            let _ = writeln!(
                md,
                "Published Chinchilla values for comparison: E = 1.69, A = 406.4, B = 410.7, α = 0.34, β = 0.28.\n"
            );
        }

        if let Some(k) = &self.kaplan {
            let _ = writeln!(
                md,
                "## Kaplan et al.'s joint law\n\nL(N, D) = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D (Kaplan et al. 2020, eq. 1.5; no \
                 irreducible term), fitted like approach 3 (Huber δ on log residuals, 625 starts), 95% residual-bootstrap \
                 intervals ({} of {} resamples refitted):\n\n{}\n\nPublished: α_N = 0.076, α_D = 0.103, N_c = 6.4e13, \
                 D_c = 1.8e13 (their tokenizer; comparable only in form).\n",
                k.resamples_used,
                self.settings.bootstrap,
                kaplan_line(k, self.approach3_rms())
            );
        } else if let Some(e) = &self.kaplan_error {
            let _ = writeln!(md, "## Kaplan et al.'s joint law\n\nNot fitted: {}\n", esc(e));
        }
        if let Some(c) = &self.constrained {
            let _ = writeln!(
                md,
                "## Data-constrained law\n\nL(N, D) = E + A/N^α + B/D'^β with effective data D' = U_D + U_D·R_D*·(1 − \
                 exp(−R_D/R_D*)), R_D = D/U_D − 1 repetitions of U_D unique tokens (Muennighoff et al. 2023, eq. 5; \
                 no parameter-side term), fitted like approach 3 (Huber δ on log residuals, {} starts, R_D* in log \
                 space) to {} runs, {} of them repeating their data (epochs {}); 95% residual-bootstrap intervals ({} \
                 of {} resamples refitted):\n",
                c.starts,
                c.n_points,
                c.repeated_points,
                c.epochs.iter().map(|e| sig(*e, 3)).collect::<Vec<_>>().join(", "),
                c.resamples_used,
                self.settings.bootstrap
            );
            let _ = writeln!(md, "| parameter | value | 95% CI |");
            let _ = writeln!(md, "|---|---|---|");
            for (name, v, ci) in [
                ("E", c.law.e, c.e_ci),
                ("A", c.law.a, None),
                ("B", c.law.b, None),
                ("α", c.law.alpha, c.alpha_ci),
                ("β", c.law.beta, c.beta_ci),
                ("R_D*", c.law.r_star, c.r_star_ci),
            ] {
                let _ = writeln!(md, "| {name} | {} | {} |", sig(v, 4), interval(ci, 4));
            }
            let _ = writeln!(
                md,
                "\nRms log residual {:.4}. Muennighoff et al. fitted R_D* = 15.4 (a repeated token loses 1/e of its \
                 worth after R_D* repetitions).\n",
                c.rms_log_residual
            );
        } else if let Some(e) = &self.constrained_error {
            let _ = writeln!(
                md,
                "Data-constrained law (Muennighoff et al. 2023) not fitted: {}\n",
                esc(e)
            );
        }
        if let Some(a) = &self.answers {
            md.push_str(&answers_markdown(a));
        }

        if let Some(x) = &self.extrapolation {
            let _ = writeln!(md, "## Extrapolation check\n");
            let _ = writeln!(
                md,
                "Approach 3 fitted on the {} runs with N < {} (from the full grid of starts), predicting the held-out \
                 runs: mean |relative error| {:.3}%, max {:.3}%. Fitted without them: E = {}, A = {}, B = {}, α = {}, \
                 β = {}.\n",
                x.fit_points,
                sci(x.held_out_from_n, 3),
                100.0 * x.mean_abs_rel_error,
                100.0 * x.max_abs_rel_error,
                sig(x.law.e, 4),
                sig(x.law.a, 4),
                sig(x.law.b, 4),
                sig(x.law.alpha, 4),
                sig(x.law.beta, 4)
            );
            let _ = writeln!(md, "| run | N | D | loss | predicted | error |");
            let _ = writeln!(md, "|---|---|---|---|---|---|");
            for r in &x.runs {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {:+.3}% |",
                    esc(&r.run_id),
                    sci(r.n, 3),
                    sci(r.d, 3),
                    sig(r.loss, 5),
                    sig(r.predicted, 5),
                    100.0 * r.rel_error
                );
            }
            md.push('\n');
        } else if let Some(e) = &self.extrapolation_error {
            let _ = writeln!(md, "## Extrapolation check\n\nNot run: {}\n", esc(e));
        }

        if !self.windows.is_empty() {
            let _ = writeln!(md, "## Fit-window sweep\n");
            let _ = writeln!(
                md,
                "Each method refitted on the runs with N (or D) at least the given value; reported apart from the \
                 bootstrap: the spread across windows is a systematic uncertainty that resampling does not see.\n"
            );
            let _ = writeln!(
                md,
                "| method | window | points | a (N_opt) | b (D_opt) | D/N at reference | α, β |"
            );
            let _ = writeln!(md, "|---|---|---|---|---|---|---|");
            for w in &self.windows {
                let opt = |v: Option<f64>| v.map(|v| sig(v, 3)).unwrap_or_else(|| "–".into());
                match &w.error {
                    Some(e) => {
                        let _ = writeln!(
                            md,
                            "| {} | {} | {} | failed: {} | | | |",
                            w.method,
                            w.window,
                            w.n_points,
                            esc(&first_line(e, 140))
                        );
                    }
                    None => {
                        let ab = w
                            .alpha_beta
                            .map(|(a, b)| format!("{}, {}", sig(a, 3), sig(b, 3)))
                            .unwrap_or_default();
                        let _ = writeln!(
                            md,
                            "| {} | {} | {} | {} | {} | {} | {ab} |",
                            w.method,
                            w.window,
                            w.n_points,
                            opt(w.n_exponent),
                            opt(w.d_exponent),
                            opt(w.tokens_per_param)
                        );
                    }
                }
            }
            md.push('\n');
        }

        let plots: Vec<&String> = self.files.iter().filter(|f| f.ends_with(".svg")).collect();
        if !plots.is_empty() {
            let _ = writeln!(md, "## Plots\n");
            for p in plots {
                let _ = writeln!(md, "![{p}]({p})\n");
            }
        }
        if !self.warnings.is_empty() {
            let _ = writeln!(md, "## Warnings\n");
            for w in &self.warnings {
                let _ = writeln!(md, "- {}", esc(w));
            }
            md.push('\n');
        }
        let _ = writeln!(md, "## Timing\n");
        for m in &self.methods {
            let _ = writeln!(
                md,
                "- {}: fit {:.2} s, bootstrap ({} resamples) {:.2} s",
                m.method, m.fit_seconds, m.bootstrap_requested, m.bootstrap_seconds
            );
        }
        let _ = writeln!(md, "- total {:.2} s", self.wall_seconds);
        md
    }
}

/// An optional estimate with its interval, or `—`.
fn opt_est(e: &Option<Estimate>, digits: usize) -> String {
    e.as_ref().map(|e| est(e, digits)).unwrap_or_else(|| "—".into())
}

/// `extrapolated: ×F beyond the largest run's WHAT (HI)` / `×F below the smallest run's`.
fn extrapolation_words(factor: Option<f64>, what: &str, (lo, hi): (f64, f64)) -> Option<String> {
    factor.map(|f| {
        if f > 1.0 {
            format!("extrapolated ×{} beyond the largest run's {what}, {}", sig(f, 3), sci(hi, 2))
        } else {
            format!(
                "extrapolated ×{} below the smallest run's {what}, {}",
                sig(1.0 / f, 3),
                sci(lo, 2)
            )
        }
    })
}

/// How the loss at the optimum was obtained, or why there is none.
fn loss_words(a: &OptimumAnswer) -> String {
    match a.loss_source {
        OptimumLoss::Law => "the law at its optimum".into(),
        OptimumLoss::Interpolated { lo, hi } => format!(
            "its own minimum losses, interpolated between its optima (C = {}–{})",
            sci(lo, 2),
            sci(hi, 2)
        ),
        OptimumLoss::OutsideOptima { lo, hi } => {
            format!("none: C is outside its optima (C = {}–{})", sci(lo, 2), sci(hi, 2))
        }
        OptimumLoss::Unavailable => String::new(),
    }
}

fn budget_heading(a: &Answers, c: f64, extrapolation: Option<f64>) -> String {
    match extrapolation_words(extrapolation, "compute", a.compute_range) {
        Some(w) => format!("C = {} FLOPs ({w})", sci(c, 3)),
        None => format!("C = {} FLOPs (inside the runs' compute)", sci(c, 3)),
    }
}

fn prediction_heading(a: &Answers, p: &super::Prediction) -> String {
    let mut w: Vec<String> = Vec::new();
    w.extend(extrapolation_words(p.n_extrapolation, "N", a.n_range));
    w.extend(extrapolation_words(p.d_extrapolation, "D", a.d_range));
    let where_ =
        if w.is_empty() { "inside the runs' ranges of N and D".to_string() } else { w.join("; ") };
    format!("N = {}, D = {} (C = {}; {where_})", sci(p.n, 3), sci(p.d, 3), sci(p.c, 3))
}

fn predicted_words(m: &PredictedLoss) -> String {
    match (&m.loss, &m.error) {
        (Some(l), _) => est(l, 4),
        (None, e) => format!("— {}", e.as_deref().unwrap_or("")),
    }
}

/// The terminal's "Answers at your budgets" block.
fn answers_text(a: &Answers) -> String {
    let mut s = String::new();
    if !a.budgets.is_empty() {
        let _ = writeln!(s, "\nAnswers at your budgets (brackets: 95% bootstrap intervals)");
        for b in &a.budgets {
            let _ = writeln!(s, "{}", budget_heading(a, b.c, b.extrapolation));
            let _ = writeln!(
                s,
                "  {:<24} {:<28} {:<28} {:<26} loss at optimum [95%]",
                "method", "N_opt [95%]", "D_opt [95%]", "D/N [95%]"
            );
            for m in &b.methods {
                if let Some(e) = &m.error {
                    let _ = writeln!(
                        s,
                        "  {:<24} not available: {}",
                        m.method.title(),
                        first_line(e, 160)
                    );
                    continue;
                }
                let loss = match (&m.loss, m.loss_source) {
                    (Some(l), _) => est(l, 4),
                    (None, OptimumLoss::OutsideOptima { lo, hi }) => {
                        format!("— (outside its optima, C = {}–{})", sci(lo, 2), sci(hi, 2))
                    }
                    (None, _) => "—".into(),
                };
                let _ = writeln!(
                    s,
                    "  {:<24} {:<28} {:<28} {:<26} {loss}",
                    m.method.title(),
                    opt_est(&m.n_opt, 3),
                    opt_est(&m.d_opt, 3),
                    opt_est(&m.tokens_per_param, 3)
                );
            }
        }
        let _ = writeln!(
            s,
            "  (loss at optimum: approach 3 from its law; the other methods interpolate their own minima between \
             their optima and give none beyond them)"
        );
    }
    if !a.predictions.is_empty() {
        let _ = writeln!(s, "\nPredicted loss L(N, D) (brackets: 95% bootstrap intervals)");
        for p in &a.predictions {
            let _ = writeln!(s, "{}", prediction_heading(a, p));
            if p.methods.is_empty() {
                let _ = writeln!(
                    s,
                    "  no method that predicts L(N, D) was run (approach 3 or surface)"
                );
            }
            for m in &p.methods {
                let _ = writeln!(s, "  {:<24} {}", m.method.title(), predicted_words(m));
            }
        }
    }
    s
}

/// The markdown section "Answers at your budgets" (and "Predicted loss at your (N, D)").
fn answers_markdown(a: &Answers) -> String {
    let mut md = String::new();
    if !a.budgets.is_empty() {
        let _ = writeln!(md, "## Answers at your budgets\n");
        let _ = writeln!(
            md,
            "Each method's compute-optimal model at the requested budgets, with 95% bootstrap intervals from the same \
             resamples as the exponents. Approach 3 takes N_opt, D_opt and the loss from its law's optimum; \
             approaches 1, 2 and the surface take N_opt and D_opt from their power laws N_opt ∝ C^a, D_opt ∝ C^b \
             and the loss from their own minimum losses, interpolated between the budgets of their optima (none \
             beyond them: only approach 3's law extrapolates the loss). The runs' compute spans {}–{} FLOPs.\n",
            sci(a.compute_range.0, 3),
            sci(a.compute_range.1, 3)
        );
        for b in &a.budgets {
            let _ = writeln!(md, "### {}\n", budget_heading(a, b.c, b.extrapolation));
            let _ = writeln!(
                md,
                "| method | N_opt [95% CI] | D_opt [95% CI] | D/N [95% CI] | loss at optimum [95% CI] | loss from |"
            );
            let _ = writeln!(md, "|---|---|---|---|---|---|");
            for m in &b.methods {
                match &m.error {
                    Some(e) => {
                        let _ = writeln!(
                            md,
                            "| {} | not available: {} | | | | |",
                            m.method.title(),
                            esc(&first_line(e, 200))
                        );
                    }
                    None => {
                        let _ = writeln!(
                            md,
                            "| {} | {} | {} | {} | {} | {} |",
                            m.method.title(),
                            opt_est(&m.n_opt, 3),
                            opt_est(&m.d_opt, 3),
                            opt_est(&m.tokens_per_param, 3),
                            opt_est(&m.loss, 4),
                            esc(&loss_words(m))
                        );
                    }
                }
            }
            md.push('\n');
        }
    }
    if !a.predictions.is_empty() {
        let _ = writeln!(md, "## Predicted loss at your (N, D)\n");
        let _ = writeln!(
            md,
            "Approach 3's law L(N, D) anywhere (beyond the runs it is an extrapolation, marked so), and the \
             interpolated surface inside the runs only; approaches 1 and 2 give no L(N, D). The runs span N = {}–{}, \
             D = {}–{}. Brackets: 95% bootstrap intervals.\n",
            sci(a.n_range.0, 3),
            sci(a.n_range.1, 3),
            sci(a.d_range.0, 3),
            sci(a.d_range.1, 3)
        );
        let methods: Vec<super::Method> = {
            let mut v: Vec<super::Method> =
                a.predictions.iter().flat_map(|p| p.methods.iter().map(|m| m.method)).collect();
            v.sort();
            v.dedup();
            v
        };
        let heads: String = methods.iter().map(|m| format!(" {} [95% CI] |", m.title())).collect();
        let _ = writeln!(md, "| N | D | C | where |{heads}");
        let _ = writeln!(md, "|---|---|---|---|{}", "---|".repeat(methods.len()));
        for p in &a.predictions {
            let mut w: Vec<String> = Vec::new();
            w.extend(extrapolation_words(p.n_extrapolation, "N", a.n_range));
            w.extend(extrapolation_words(p.d_extrapolation, "D", a.d_range));
            let where_ = if w.is_empty() { "inside the runs".to_string() } else { w.join("; ") };
            let cells: String = methods
                .iter()
                .map(|&m| match p.methods.iter().find(|x| x.method == m) {
                    Some(x) => format!(" {} |", esc(&predicted_words(x))),
                    None => " |".to_string(),
                })
                .collect();
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |{cells}",
                sci(p.n, 3),
                sci(p.d, 3),
                sci(p.c, 3),
                esc(&where_)
            );
        }
        if methods.is_empty() {
            let _ =
                writeln!(md, "\nNo method that predicts L(N, D) was run (approach 3 or surface).");
        }
        md.push('\n');
    }
    md
}

fn esc(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn joint_fit(m: &MethodReport) -> Option<&super::JointFit> {
    match &m.detail {
        Some(MethodDetail::Joint(j)) => Some(j),
        _ => None,
    }
}

/// Places `curve` at `index` (padding with empty, invisible curves): [`plot_svg`] colours a
/// curve by its index modulo the palette, so index `i + 8k` shares the colour of `i`.
fn place(curves: &mut Vec<Curve>, index: usize, curve: Curve) {
    while curves.len() < index {
        curves.push(Curve { label: String::new(), points: Vec::new(), style: CurveStyle::Markers });
    }
    if curves.len() == index {
        curves.push(curve);
    } else {
        curves[index] = curve;
    }
}

const P: usize = PALETTE.len();

/// Up to 8 groups of `(key, members)`: the distinct values of `key` when there are at most
/// 8, else 6 log-spaced bins, each labelled by its geometric-mean value.
fn groups(values: &[f64]) -> Vec<(f64, Vec<usize>)> {
    let mut distinct: Vec<f64> = values.to_vec();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    if distinct.len() <= P {
        return distinct
            .iter()
            .map(|v| (*v, (0..values.len()).filter(|&i| values[i] == *v).collect()))
            .collect();
    }
    let (lo, hi) = (distinct[0].ln(), distinct[distinct.len() - 1].ln());
    let bins = 6;
    let mut members: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, v) in values.iter().enumerate() {
        let b = (((v.ln() - lo) / (hi - lo)) * bins as f64).floor().clamp(0.0, (bins - 1) as f64)
            as usize;
        members.entry(b).or_default().push(i);
    }
    members
        .into_values()
        .map(|m| {
            let g = (m.iter().map(|&i| values[i].ln()).sum::<f64>() / m.len() as f64).exp();
            (g, m)
        })
        .collect()
}

/// Writes the plots into `dir`; returns their file names.
pub(crate) fn write_plots(r: &FitReport, dir: &Path) -> Result<Vec<String>, AnalysisError> {
    let mut files = Vec::new();
    let law = r.method(Method::Approach3).and_then(joint_fit).map(|j| j.law);
    let cm = super::ComputeModel::from_points(&r.points);
    let pts = &r.points;
    let binned = |v: &[f64]| {
        groups(v).len() < {
            let mut d = v.to_vec();
            d.sort_by(f64::total_cmp);
            d.dedup();
            d.len()
        }
    };

    // Loss against N (grouped by D) and against D (grouped by N), with approach 3's curves.
    for (file, x_of, g_of, x_name, g_name) in [
        (
            "loss_vs_n.svg",
            (|p: &super::ScalingPoint| p.n) as fn(&super::ScalingPoint) -> f64,
            (|p: &super::ScalingPoint| p.d) as fn(&super::ScalingPoint) -> f64,
            "parameters N",
            "D",
        ),
        ("loss_vs_d.svg", |p| p.d, |p| p.n, "training tokens D", "N"),
    ] {
        let gv: Vec<f64> = pts.iter().map(g_of).collect();
        let approx = if binned(&gv) { "≈ " } else { "= " };
        let xs: Vec<f64> = pts.iter().map(x_of).collect();
        let mut curves = Vec::new();
        for (k, (g, members)) in groups(&gv).into_iter().enumerate() {
            let mut m: Vec<(f64, f64)> = members.iter().map(|&i| (xs[i], pts[i].loss)).collect();
            m.sort_by(|a, b| a.0.total_cmp(&b.0));
            let (x_lo, x_hi) = (m[0].0, m[m.len() - 1].0);
            place(
                &mut curves,
                k,
                Curve {
                    label: format!("{g_name} {approx}{}", sci(g, 2)),
                    points: m,
                    style: CurveStyle::Markers,
                },
            );
            if let Some(law) = law {
                let line: Vec<(f64, f64)> = logspace(x_lo / 1.5, x_hi * 1.5, 60)
                    .into_iter()
                    .map(|x| (x, if g_name == "D" { law.loss(x, g) } else { law.loss(g, x) }))
                    .collect();
                place(
                    &mut curves,
                    P + k,
                    Curve { label: String::new(), points: line, style: CurveStyle::Line },
                );
            }
        }
        let title = format!(
            "loss vs {}{}",
            &x_name[x_name.len() - 1..],
            if law.is_some() { " (lines: approach 3)" } else { "" }
        );
        plot_svg(
            &dir.join(file),
            &PlotSpec {
                title,
                x_label: x_name.into(),
                y_label: "loss (nats/token)".into(),
                log_x: true,
                log_y: true,
                curves,
                hlines: Vec::new(),
            },
        )?;
        files.push(file.to_string());
    }

    // Loss against compute, grouped by N, with approach 3's per-N curves, its frontier and approach 1's envelope.
    {
        let nv: Vec<f64> = pts.iter().map(|p| p.n).collect();
        let approx = if binned(&nv) { "≈ " } else { "= " };
        let mut curves = Vec::new();
        for (k, (g, members)) in groups(&nv).into_iter().enumerate() {
            let mut m: Vec<(f64, f64)> = members.iter().map(|&i| (pts[i].c, pts[i].loss)).collect();
            m.sort_by(|a, b| a.0.total_cmp(&b.0));
            let (c_lo, c_hi) = (m[0].0, m[m.len() - 1].0);
            place(
                &mut curves,
                k,
                Curve {
                    label: format!("N {approx}{}", sci(g, 2)),
                    points: m,
                    style: CurveStyle::Markers,
                },
            );
            if let Some(law) = law {
                let line = logspace(c_lo / 2.0, c_hi * 2.0, 40)
                    .into_iter()
                    .map(|c| (c, law.loss(g, cm.d_for(g, c))))
                    .collect();
                place(
                    &mut curves,
                    P + k,
                    Curve { label: String::new(), points: line, style: CurveStyle::Line },
                );
            }
        }
        if let Some(law) = law {
            let line: Vec<(f64, f64)> =
                logspace(r.compute_range.0 / 2.0, r.compute_range.1 * 2.0, 60)
                    .into_iter()
                    .filter_map(|c| law.optimum(c, &cm).map(|(n, d)| (c, law.loss(n, d))))
                    .collect();
            place(
                &mut curves,
                2 * P + 6,
                Curve {
                    label: "approach 3 frontier".into(),
                    points: line,
                    style: CurveStyle::Dashed,
                },
            );
        }
        if let Some(MethodDetail::Envelope(e)) =
            r.method(Method::Approach1).and_then(|m| m.detail.as_ref())
        {
            let env: Vec<(f64, f64)> = e.envelope.iter().map(|p| (p.c, p.loss)).collect();
            place(
                &mut curves,
                3 * P + 6,
                Curve {
                    label: "approach 1 envelope".into(),
                    points: env,
                    style: CurveStyle::Markers,
                },
            );
        }
        plot_svg(
            &dir.join("loss_vs_c.svg"),
            &PlotSpec {
                title: "loss vs compute".into(),
                x_label: "training compute C (FLOPs)".into(),
                y_label: "loss (nats/token)".into(),
                log_x: true,
                log_y: true,
                curves,
                hlines: Vec::new(),
            },
        )?;
        files.push("loss_vs_c.svg".into());
    }

    // IsoFLOP profiles.
    if let Some(MethodDetail::IsoFlop(f)) =
        r.method(Method::Approach2).and_then(|m| m.detail.as_ref())
    {
        let shown: Vec<&super::IsoFlopProfile> = if f.profiles.len() <= P {
            f.profiles.iter().collect()
        } else {
            (0..P).map(|k| &f.profiles[k * (f.profiles.len() - 1) / (P - 1)]).collect()
        };
        let mut curves = Vec::new();
        let mut vertices = Vec::new();
        for (k, p) in shown.iter().enumerate() {
            place(
                &mut curves,
                k,
                Curve {
                    label: format!("C = {}", sci(p.c, 2)),
                    points: p.points.clone(),
                    style: CurveStyle::Markers,
                },
            );
            if p.parabola.is_some() {
                let (lo, hi) = p
                    .points
                    .iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), q| (a.min(q.0), b.max(q.0)));
                let line = logspace(lo, hi, 40)
                    .into_iter()
                    .filter_map(|n| p.parabola_at(n).map(|l| (n, l)))
                    .collect();
                place(
                    &mut curves,
                    P + k,
                    Curve { label: String::new(), points: line, style: CurveStyle::Line },
                );
            }
            if let Some(o) = p.optimum {
                vertices.push((o.n_opt, o.loss));
            }
        }
        place(
            &mut curves,
            3 * P + 6,
            Curve { label: "vertex (N_opt)".into(), points: vertices, style: CurveStyle::Markers },
        );
        plot_svg(
            &dir.join("isoflop.svg"),
            &PlotSpec {
                title: "approach 2: IsoFLOP profiles".into(),
                x_label: "parameters N".into(),
                y_label: "loss (nats/token)".into(),
                log_x: true,
                log_y: false,
                curves,
                hlines: Vec::new(),
            },
        )?;
        files.push("isoflop.svg".into());
    }

    // The frontiers with their bootstrap bands.
    for (file, what, get, band_lo, band_hi) in [
        (
            "frontier_n.svg",
            "N_opt",
            (|p: &super::FrontierPoint| p.n_opt) as fn(&super::FrontierPoint) -> f64,
            (|b: &super::BandPoint| b.n_lo) as fn(&super::BandPoint) -> f64,
            (|b: &super::BandPoint| b.n_hi) as fn(&super::BandPoint) -> f64,
        ),
        ("frontier_d.svg", "D_opt", |p| p.d_opt, |b| b.d_lo, |b| b.d_hi),
    ] {
        let mut curves = Vec::new();
        for m in &r.methods {
            let (Some(f), Some(a)) = (&m.frontier, &m.allocation) else {
                continue;
            };
            let k = Method::ALL.iter().position(|x| *x == m.method).unwrap_or(0);
            let exp = if what == "N_opt" { &a.n_exponent } else { &a.d_exponent };
            let (lo, hi) = super::analysis::c_span(f);
            let line: Vec<(f64, f64)> = logspace(lo, hi, 40)
                .into_iter()
                .map(|c| (c, if what == "N_opt" { f.n_opt(c) } else { f.d_opt(c) }))
                .collect();
            place(
                &mut curves,
                k,
                Curve {
                    label: format!("{}: C^{}", m.method.title(), est(exp, 3)),
                    points: line,
                    style: CurveStyle::Line,
                },
            );
            if m.method != Method::Approach3 {
                let pts: Vec<(f64, f64)> = f.points.iter().map(|p| (p.c, get(p))).collect();
                place(
                    &mut curves,
                    P + k,
                    Curve { label: String::new(), points: pts, style: CurveStyle::Markers },
                );
            }
            if !m.band.is_empty() {
                let lo = m.band.iter().map(|b| (b.c, band_lo(b))).collect();
                let hi = m.band.iter().map(|b| (b.c, band_hi(b))).collect();
                place(
                    &mut curves,
                    2 * P + k,
                    Curve { label: String::new(), points: lo, style: CurveStyle::Dashed },
                );
                place(
                    &mut curves,
                    3 * P + k,
                    Curve { label: String::new(), points: hi, style: CurveStyle::Dashed },
                );
            }
        }
        if curves.is_empty() {
            continue;
        }
        plot_svg(
            &dir.join(file),
            &PlotSpec {
                title: format!("{what}(C): fits (lines), optima (circles), 95% bands (dashed)"),
                x_label: "training compute C (FLOPs)".into(),
                y_label: if what == "N_opt" {
                    "compute-optimal parameters N_opt".into()
                } else {
                    "compute-optimal tokens D_opt".into()
                },
                log_x: true,
                log_y: true,
                curves,
                hlines: Vec::new(),
            },
        )?;
        files.push(file.to_string());
    }
    Ok(files)
}

impl FitReport {
    /// Root mean square log residual of approach 3's law over the fitted points.
    fn approach3_rms(&self) -> Option<f64> {
        let j = self.joint.as_ref()?;
        let law = super::JointLaw {
            e: j.e.value,
            a: j.a.value,
            b: j.b.value,
            alpha: j.alpha.value,
            beta: j.beta.value,
        };
        let n = self.points.len() as f64;
        let ss: f64 = self.points.iter().map(|p| (p.loss / law.loss(p.n, p.d)).ln().powi(2)).sum();
        (n > 0.0).then(|| (ss / n).sqrt())
    }
}

/// One line: the data-constrained law's exponents, `E` and `R_D*` with their 95% intervals.
fn constrained_line(c: &super::ConstrainedFit) -> String {
    let iv = |v: f64, ci: Option<(f64, f64)>| match ci {
        Some((lo, hi)) => format!("{v:.3} [{lo:.3}, {hi:.3}]"),
        None => format!("{v:.3}"),
    };
    format!(
        "data-constrained law [95%]: α = {}, β = {}, E = {}, R_D* = {}; rms log residual {:.4} over {} runs ({} \
         repeating their data)",
        iv(c.law.alpha, c.alpha_ci),
        iv(c.law.beta, c.beta_ci),
        iv(c.law.e, c.e_ci),
        iv(c.law.r_star, c.r_star_ci),
        c.rms_log_residual,
        c.n_points,
        c.repeated_points
    )
}

/// One line: the Kaplan law's parameters with their 95% intervals and its residuals beside
/// approach 3's.
fn kaplan_line(k: &super::KaplanFit, approach3_rms: Option<f64>) -> String {
    let iv = |v: f64, ci: Option<(f64, f64)>, f: &dyn Fn(f64) -> String| match ci {
        Some((lo, hi)) => format!("{} [{}, {}]", f(v), f(lo), f(hi)),
        None => f(v),
    };
    let fixed = |v: f64| format!("{v:.3}");
    let sc = |v: f64| sci(v, 2);
    format!(
        "Kaplan law [95%]: α_N = {}, α_D = {}, N_c = {}, D_c = {}; rms log residual {:.4} over {} runs{}",
        iv(k.law.alpha_n, k.alpha_n_ci, &fixed),
        iv(k.law.alpha_d, k.alpha_d_ci, &fixed),
        iv(k.law.n_c, k.n_c_ci, &sc),
        iv(k.law.d_c, k.d_c_ci, &sc),
        k.rms_log_residual,
        k.n_points,
        approach3_rms.map_or(String::new(), |r| format!(" (approach 3: {r:.4})"))
    )
}
