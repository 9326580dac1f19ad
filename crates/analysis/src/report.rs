//! The whole analysis of one sweep: fits, plots and a markdown report.
//!
//! # What is fitted
//!
//! Only runs with status `ok` and a finite, positive eval loss are used. When several runs
//! share a cell `(N, D)` (seeds, learning-rate grid), the lowest eval loss is kept — the
//! "best of seeds and LRs" convention. Then:
//!
//! * `L(N)` at one data size `D` (the largest `D` with at least three model sizes, else the
//!   one with most model sizes): with a free offset on the non-embedding `N` (Kaplan's
//!   convention) and on the total `N`, with no offset, and with `E` fixed at the reference.
//! * `L(D)` at one model size (the largest `N` with at least three data sizes…), free offset,
//!   no offset, and `E` fixed at the reference.
//!
//! All fits use squared log residuals (see [`fit_power_law`]) and `AnalysisOptions::bootstrap`
//! resamples of a fixed-design residual bootstrap, t-corrected for the few degrees of freedom.
//!
//! With [`AnalysisOptions::broken_power_law`], a broken power law ([`crate::broken`]) is also
//! fitted to the same `L(N)` and `L(D)` slices ([`ScalingFits::broken_power_laws`]), beside the
//! plain law's residuals and with a verdict on whether the data resolve a break.
//!
//! # Files written by [`write_report`]
//!
//! * `fits.json` — [`ScalingFits`].
//! * `loss_vs_n.svg` — eval loss vs non-embedding `N`, one marker series per `D`, the fits at
//!   the chosen `D` as lines, reference and unigram losses as horizontal lines.
//! * `loss_vs_d.svg` — the same against `D`, one series per `N`.
//! * `loss_minus_e_vs_n.svg`, `loss_minus_e_vs_d.svg` — `L − Ê` on log-log axes at the chosen
//!   `D` (resp. `N`), where the power law is a straight line (points with `L ≤ Ê` are
//!   omitted); also `L − E_ref` when a reference loss is given.
//! * `loss_vs_compute.svg` — eval loss vs training FLOPs per run, one series per `N`, with the
//!   lower envelope (compute frontier) drawn as a line.
//! * `report.md` — tables, comparisons with the reference, plots, all runs, warnings and
//!   conventions.
//! * `report.html` — the same page for a browser, its plots inline ([`crate::html`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use crate::atomic::write_file;
use crate::broken::{BrokenFit, BrokenFitOptions, fit_broken_power_law};
use crate::error::AnalysisError;
use crate::format::{interval, sci, sig};
use crate::lr_check::{LrCheckResult, LrPosition, lr_checks};
use crate::plot::{Curve, CurveStyle, PlotSpec, plot_svg};
use crate::powerlaw::{FitLoss, FitOptions, Offset, PowerLawFit, fit_power_law};
use crate::records::{RunRecord, RunStatus};
use crate::verdict::{Estimate, Precondition, Verdict, VerdictOptions, compare};

/// Settings of one sweep's analysis.
#[derive(Clone, Debug, PartialEq)]
pub struct AnalysisOptions {
    /// Report title.
    pub title: String,
    /// Known irreducible loss as `(name, nats per token)` (e.g. the exact entropy rate of a
    /// graph walk), drawn as a reference line and compared with the fitted offset E.
    pub reference_loss: Option<(String, f64)>,
    /// Loss of the best context-free (unigram) model in nats per token, shown as a second
    /// reference.
    pub unigram_loss: Option<f64>,
    /// Bootstrap resamples for the 95% intervals (0 = none).
    pub bootstrap: usize,
    /// Bootstrap seed.
    pub seed: u64,
    /// Extra markdown placed at the top of report.md (e.g. the experiment description and config).
    pub preamble: String,
    /// How the results' FLOPs per token were counted, for the report's conventions, e.g.
    /// "6N + 6·L·T·d (attention) + 6·d·V (unembedding)". Default: "as recorded in the results".
    pub flop_convention: String,
    /// Also fit a broken power law ([`crate::broken`]) to `L(N)` and `L(D)`, with a report
    /// section "Broken power law" (`scalinglab analyze --broken-power-law`). Default false.
    pub broken_power_law: bool,
}

impl Default for AnalysisOptions {
    /// Title "Scaling sweep", no references, 200 bootstrap resamples, seed 0, empty preamble, no
    /// broken power law.
    fn default() -> Self {
        AnalysisOptions {
            title: "Scaling sweep".into(),
            reference_loss: None,
            unigram_loss: None,
            bootstrap: 200,
            seed: 0,
            preamble: String::new(),
            flop_convention: "as recorded in the results".into(),
            broken_power_law: false,
        }
    }
}

/// All fits of one sweep.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ScalingFits {
    /// Eval loss vs non-embedding N at `d_at` (runs with status Ok), E free.
    pub loss_vs_n: Option<PowerLawFit>,
    /// Same, N with embeddings.
    pub loss_vs_n_total: Option<PowerLawFit>,
    /// Offset::Zero, to show how much the exponent moves.
    pub loss_vs_n_no_offset: Option<PowerLawFit>,
    /// Eval loss vs D (tokens) at `n_at`, E free.
    pub loss_vs_d: Option<PowerLawFit>,
    /// Same with Offset::Zero.
    pub loss_vs_d_no_offset: Option<PowerLawFit>,
    /// L(N) with E fixed at the reference loss, if given.
    pub loss_vs_n_fixed_e: Option<PowerLawFit>,
    /// L(D) with E fixed at the reference loss, if given.
    pub loss_vs_d_fixed_e: Option<PowerLawFit>,
    /// The reference (irreducible) loss in nats per token, if given.
    pub reference_loss: Option<f64>,
    /// The `D` (training tokens) at which `L(N)` was fitted.
    pub n_at: Option<u64>,
    /// The non-embedding `N` (parameters) at which `L(D)` was fitted.
    pub d_at: Option<u64>,
    /// Each free offset set against the reference loss, with its verdict (empty without a
    /// reference).
    #[serde(default)]
    pub floor_verdicts: Vec<FloorVerdict>,
    /// Runs that differ only in their learning rate: where the best rate lies.
    #[serde(default)]
    pub lr_checks: Vec<LrCheckResult>,
    /// The broken power law fitted to `L(N)` and `L(D)` (empty unless
    /// [`AnalysisOptions::broken_power_law`]).
    #[serde(default)]
    pub broken_power_laws: Vec<BrokenLawFit>,
    /// Caveats, e.g. "only 3 points for L(N): fit has 0 degrees of freedom".
    pub warnings: Vec<String>,
}

/// A free-offset law's `E` against the known irreducible loss: does the law's offset find it?
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct FloorVerdict {
    /// Which law, e.g. `"L(N_total)"`.
    pub law: String,
    /// The fitted offset with its 95% interval.
    pub e: Estimate,
    /// The reference (exact) irreducible loss.
    pub reference: f64,
    /// `(E − reference) / reference`.
    pub relative_difference: f64,
    /// The law's exponent with its 95% interval.
    pub alpha: Estimate,
    /// What the verdict needs, each checked.
    pub preconditions: Vec<Precondition>,
    /// "agrees" when the reference lies within E's 95% interval (see [`compare`]).
    pub verdict: Verdict,
}

/// A broken power law ([`crate::broken`]) fitted to one slice of the sweep.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct BrokenLawFit {
    /// Which law: `"L(N)"` or `"L(D)"`.
    pub law: String,
    /// The slice, e.g. `"L(N), N non-emb. at D = 1.0e8"`.
    pub description: String,
    /// The fit, with the plain law's rms and the verdict on the break.
    pub fit: Option<BrokenFit>,
    /// Why it could not be fitted (e.g. fewer than 7 points).
    pub error: Option<String>,
}

fn broken_law(
    law: &str,
    description: String,
    x: &[f64],
    y: &[f64],
    opts: &AnalysisOptions,
) -> BrokenLawFit {
    let bo = BrokenFitOptions { bootstrap: opts.bootstrap, seed: opts.seed, ..Default::default() };
    let (fit, error) = match fit_broken_power_law(x, y, &bo) {
        Ok(f) => (Some(f), None),
        Err(e) => (None, Some(e.to_string())),
    };
    BrokenLawFit { law: law.into(), description, fit, error }
}

/// A law is clean enough to test its offset when α's 95% interval lies within this fraction of
/// α on either side.
pub const MAX_ALPHA_RELATIVE_HALF_WIDTH: f64 = 0.25;
/// … and E's interval within this fraction of E (wider says nothing about a floor).
pub const MAX_E_RELATIVE_HALF_WIDTH: f64 = 0.10;

/// Where a free offset `e` fitted to losses `y` sits in its range `[0, min y)`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum OffsetPlace {
    /// Below 0.1% of the lowest loss, i.e. at the bound 0: the data show no offset.
    AtLowerBound,
    /// Within 0.1% of the losses' spread below the lowest loss: the offset absorbs the
    /// curvature.
    AtUpperBound,
    /// Inside the range.
    Inside,
}

/// Where `e` sits in the range a free offset of losses `y` may take, and the lowest loss.
fn offset_place(e: f64, y: &[f64]) -> (OffsetPlace, f64) {
    let min_y = y.iter().copied().fold(f64::INFINITY, f64::min);
    let max_y = y.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let place = if e < 1e-3 * min_y {
        OffsetPlace::AtLowerBound
    } else if e >= min_y - 1e-3 * (max_y - min_y) {
        OffsetPlace::AtUpperBound
    } else {
        OffsetPlace::Inside
    };
    (place, min_y)
}

/// The verdict on one free-offset fit of the slice with losses `y` against `reference`.
fn floor_verdict(law: &str, fit: &PowerLawFit, y: &[f64], reference: f64) -> FloorVerdict {
    let (place, min_y) = offset_place(fit.e, y);
    let alpha = Estimate::with_interval(fit.alpha, fit.alpha_ci);
    let alpha_rel = alpha.half_width() / fit.alpha.abs();
    let preconditions = vec![
        Precondition::new(
            "E lies inside its range (0, lowest loss)",
            place == OffsetPlace::Inside,
            format!("E = {}, lowest loss {}", sig(fit.e, 4), sig(min_y, 4)),
        ),
        Precondition::new(
            "the fit has two or more degrees of freedom",
            fit.dof() >= 2,
            format!("{} points, {} free parameters", fit.n_points, fit.n_params()),
        ),
        Precondition::new(
            format!(
                "α is resolved (95% interval within ±{:.0}% of α)",
                100.0 * MAX_ALPHA_RELATIVE_HALF_WIDTH
            ),
            fit.alpha > 0.0 && alpha_rel <= MAX_ALPHA_RELATIVE_HALF_WIDTH,
            match fit.alpha_ci {
                Some(ci) => format!("α = {} {}", sig(fit.alpha, 3), interval(Some(ci), 3)),
                None => format!("α = {} with no interval", sig(fit.alpha, 3)),
            },
        ),
    ];
    let e = Estimate::with_interval(fit.e, fit.e_ci);
    let exact = Estimate::symmetric(reference, 0.0);
    let verdict = compare(
        &exact,
        &e,
        &preconditions,
        &VerdictOptions { max_relative_half_width: MAX_E_RELATIVE_HALF_WIDTH },
    );
    FloorVerdict {
        law: law.to_string(),
        e,
        reference,
        relative_difference: (fit.e - reference) / reference,
        alpha,
        preconditions,
        verdict,
    }
}

impl ScalingFits {
    /// `(short name, description, fit)` for every fit slot, in report order.
    pub fn labelled(&self) -> Vec<(&'static str, String, Option<&PowerLawFit>)> {
        let at_d = self.n_at.map(|d| format!(" at D = {}", sci(d as f64, 2))).unwrap_or_default();
        let at_n = self.d_at.map(|n| format!(" at N = {}", sci(n as f64, 2))).unwrap_or_default();
        vec![
            ("L(N)", format!("L(N), N non-emb.{at_d}, E free"), self.loss_vs_n.as_ref()),
            (
                "L(N_total)",
                format!("L(N), N incl. emb.{at_d}, E free"),
                self.loss_vs_n_total.as_ref(),
            ),
            (
                "L(N), E=0",
                format!("L(N), N non-emb.{at_d}, E = 0"),
                self.loss_vs_n_no_offset.as_ref(),
            ),
            (
                "L(N), E=ref",
                format!("L(N), N non-emb.{at_d}, E = reference"),
                self.loss_vs_n_fixed_e.as_ref(),
            ),
            ("L(D)", format!("L(D){at_n}, E free"), self.loss_vs_d.as_ref()),
            ("L(D), E=0", format!("L(D){at_n}, E = 0"), self.loss_vs_d_no_offset.as_ref()),
            ("L(D), E=ref", format!("L(D){at_n}, E = reference"), self.loss_vs_d_fixed_e.as_ref()),
        ]
    }
}

/// A run usable for fitting, reduced to what the fits need.
#[derive(Clone, Debug)]
struct Cell<'a> {
    n: u64,
    n_total: u64,
    d: u64,
    loss: f64,
    run: &'a RunRecord,
}

fn validate_options(opts: &AnalysisOptions) -> Result<(), AnalysisError> {
    if let Some((name, v)) = &opts.reference_loss
        && !(v.is_finite() && *v >= 0.0)
    {
        return Err(AnalysisError::invalid(
            "AnalysisOptions.reference_loss",
            format!("reference loss `{name}` = {v} must be finite and >= 0"),
        ));
    }
    if let Some(v) = opts.unigram_loss
        && !(v.is_finite() && v > 0.0)
    {
        return Err(AnalysisError::invalid(
            "AnalysisOptions.unigram_loss",
            format!("unigram loss = {v} must be finite and > 0"),
        ));
    }
    Ok(())
}

/// Usable runs (status ok, finite positive loss, positive N and D), best per (N, D) cell.
fn usable_cells<'a>(records: &'a [RunRecord], warnings: &mut Vec<String>) -> Vec<Cell<'a>> {
    let diverged: Vec<&str> = records
        .iter()
        .filter(|r| r.status == RunStatus::Diverged)
        .map(|r| r.run_id.as_str())
        .collect();
    if !diverged.is_empty() {
        warnings.push(format!(
            "{} diverged run(s) excluded from the fits: {}",
            diverged.len(),
            list_ids(&diverged)
        ));
    }
    // Runs that repeat their data more than the fewest-epoch runs measure another law (the
    // data-constrained one, `scalinglab fit`); L(N) and L(D) take the fewest-epoch runs.
    let fewest = records.iter().filter(|r| r.status == RunStatus::Ok).map(|r| r.epochs).min();
    let repeated: Vec<&str> = records
        .iter()
        .filter(|r| r.status == RunStatus::Ok && Some(r.epochs) != fewest)
        .map(|r| r.run_id.as_str())
        .collect();
    if !repeated.is_empty() {
        warnings.push(format!(
            "{} run(s) that repeat their data more than {} time(s) are left out of these laws (`scalinglab fit` \
             fits them with the data-constrained law): {}",
            repeated.len(),
            fewest.unwrap_or(1),
            list_ids(&repeated)
        ));
    }
    let mut best: BTreeMap<(u64, u64), Cell<'a>> = BTreeMap::new();
    let mut contested: BTreeSet<(u64, u64)> = BTreeSet::new();
    let mut duplicates = 0usize;
    for r in records.iter().filter(|r| r.status == RunStatus::Ok && Some(r.epochs) == fewest) {
        if !(r.eval_loss.is_finite() && r.eval_loss > 0.0) {
            warnings.push(format!(
                "run {} has status ok but eval_loss = {}; excluded from the fits",
                r.run_id, r.eval_loss
            ));
            continue;
        }
        if r.params_non_embedding == 0 || r.tokens == 0 {
            warnings.push(format!(
                "run {} has params_non_embedding = {} and tokens = {}; both must be > 0; excluded",
                r.run_id, r.params_non_embedding, r.tokens
            ));
            continue;
        }
        let cell = Cell {
            n: r.params_non_embedding,
            n_total: r.params,
            d: r.tokens,
            loss: r.eval_loss,
            run: r,
        };
        match best.get_mut(&(cell.n, cell.d)) {
            Some(old) => {
                duplicates += 1;
                contested.insert((cell.n, cell.d));
                if cell.loss < old.loss {
                    *old = cell;
                }
            }
            None => {
                best.insert((cell.n, cell.d), cell);
            }
        }
    }
    if duplicates > 0 {
        let winners: Vec<String> = best
            .iter()
            .filter(|(key, _)| contested.contains(key))
            .map(|(_, c)| format!("{} (lr {}, seed {})", c.run.run_id, c.run.lr, c.run.seed))
            .collect();
        let winners: Vec<&str> = winners.iter().map(String::as_str).collect();
        warnings.push(format!(
            "{duplicates} run(s) shared an (N, D) cell with another run; the lowest eval loss of each such cell \
             was kept (best of seeds/learning rates): {}",
            list_ids(&winners)
        ));
    }
    best.into_values().collect()
}

fn list_ids(ids: &[&str]) -> String {
    if ids.len() <= 8 {
        ids.join(", ")
    } else {
        format!("{}, … ({} more)", ids[..8].join(", "), ids.len() - 8)
    }
}

/// Chooses the slice for a 1-D law: among the values of `key`, the largest with at least 3
/// distinct values of the other variable, else the one with most (ties → larger).
fn choose_slice(
    cells: &[Cell],
    key: impl Fn(&Cell) -> u64,
    other: impl Fn(&Cell) -> u64,
) -> Option<(u64, usize)> {
    let mut groups: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    for c in cells {
        groups.entry(key(c)).or_default().insert(other(c));
    }
    if let Some((k, s)) = groups.iter().rev().find(|(_, s)| s.len() >= 3) {
        return Some((*k, s.len()));
    }
    // `max_by_key` keeps the last maximum: in ascending key order, the largest key among the
    // groups with the most members.
    groups.iter().max_by_key(|(_, s)| s.len()).map(|(k, s)| (*k, s.len()))
}

struct LawFitter<'o> {
    opts: &'o AnalysisOptions,
    warnings: Vec<String>,
}

impl LawFitter<'_> {
    fn fit(&mut self, name: &str, x: &[f64], y: &[f64], offset: Offset) -> Option<PowerLawFit> {
        let fo = FitOptions {
            offset,
            loss: FitLoss::Squared,
            bootstrap: self.opts.bootstrap,
            seed: self.opts.seed,
        };
        match fit_power_law(x, y, &fo) {
            Ok(fit) => {
                if fit.dof() == 0 {
                    self.warnings.push(format!(
                        "only {} points for {name}: fit has 0 degrees of freedom (it interpolates; residuals say nothing)",
                        fit.n_points
                    ));
                }
                if let Offset::Free = offset {
                    let (place, min_y) = offset_place(fit.e, y);
                    if place == OffsetPlace::AtLowerBound {
                        self.warnings.push(format!(
                            "{name}: fitted E = {} sits at its lower bound 0; the data show no offset over this range",
                            sig(fit.e, 3)
                        ));
                    } else if place == OffsetPlace::AtUpperBound {
                        self.warnings.push(format!(
                            "{name}: fitted E = {} sits at its upper bound, the lowest loss {}; the offset absorbs \
                             the curvature and α = {} is poorly constrained",
                            sig(fit.e, 4),
                            sig(min_y, 4),
                            sig(fit.alpha, 3)
                        ));
                    }
                }
                if fit.alpha <= 0.0 {
                    self.warnings.push(format!(
                        "{name}: fitted α = {} ≤ 0, the loss does not fall with scale here",
                        sig(fit.alpha, 3)
                    ));
                }
                Some(fit)
            }
            Err(e) => {
                self.warnings.push(format!("{name} not fitted: {e}"));
                None
            }
        }
    }
}

/// Fits the scaling laws of one sweep (see the [module docs](self)). Laws that cannot be
/// fitted (too few points) are `None` with a warning instead of an error.
///
/// # Errors
///
/// [`AnalysisError::InvalidInput`] when the options are invalid (a negative or non-finite
/// reference loss, a non-positive unigram loss); [`AnalysisError::NoData`] when no run is
/// usable (status ok, a finite positive eval loss, positive `N` and `D`).
pub fn fit_sweep(
    records: &[RunRecord],
    opts: &AnalysisOptions,
) -> Result<ScalingFits, AnalysisError> {
    validate_options(opts)?;
    let mut warnings = Vec::new();
    let cells = usable_cells(records, &mut warnings);
    if cells.is_empty() {
        return Err(AnalysisError::NoData(format!(
            "{} record(s), none with status ok, a finite positive eval loss and positive N and D",
            records.len()
        )));
    }
    let reference = opts.reference_loss.as_ref().map(|r| r.1);
    let min_loss = cells.iter().map(|c| c.loss).fold(f64::INFINITY, f64::min);
    if let Some((name, r)) = &opts.reference_loss
        && min_loss < *r
    {
        warnings.push(format!(
            "the lowest eval loss {} is below the {name} {}: evaluation noise, or the reference is not a lower bound",
            sig(min_loss, 4),
            sig(*r, 4)
        ));
    }

    let mut f = LawFitter { opts, warnings };
    let max_d = cells.iter().map(|c| c.d).max();
    let max_n = cells.iter().map(|c| c.n).max();

    // L(N) at one D.
    let mut fits = ScalingFits {
        loss_vs_n: None,
        loss_vs_n_total: None,
        loss_vs_n_no_offset: None,
        loss_vs_d: None,
        loss_vs_d_no_offset: None,
        loss_vs_n_fixed_e: None,
        loss_vs_d_fixed_e: None,
        reference_loss: reference,
        n_at: None,
        d_at: None,
        floor_verdicts: Vec::new(),
        lr_checks: lr_checks(records),
        broken_power_laws: Vec::new(),
        warnings: Vec::new(),
    };
    if let Some((d_at, count)) = choose_slice(&cells, |c| c.d, |c| c.n) {
        fits.n_at = Some(d_at);
        if Some(d_at) != max_d {
            f.warnings.push(format!(
                "L(N) uses D = {} (the largest D with the most model sizes, {count}), not the largest D = {}",
                sci(d_at as f64, 3),
                sci(max_d.unwrap_or(0) as f64, 3)
            ));
        }
        let slice: Vec<&Cell> = cells.iter().filter(|c| c.d == d_at).collect();
        let xn: Vec<f64> = slice.iter().map(|c| c.n as f64).collect();
        let xt: Vec<f64> = slice.iter().map(|c| c.n_total as f64).collect();
        let y: Vec<f64> = slice.iter().map(|c| c.loss).collect();
        fits.loss_vs_n = f.fit("L(N)", &xn, &y, Offset::Free);
        fits.loss_vs_n_total = f.fit("L(N_total)", &xt, &y, Offset::Free);
        if let Some(r) = reference {
            for (law, fit) in [("L(N)", &fits.loss_vs_n), ("L(N_total)", &fits.loss_vs_n_total)] {
                if let Some(fit) = fit {
                    fits.floor_verdicts.push(floor_verdict(law, fit, &y, r));
                }
            }
        }
        if opts.broken_power_law {
            let desc = format!("L(N), N non-emb. at D = {}", sci(d_at as f64, 2));
            fits.broken_power_laws.push(broken_law("L(N)", desc, &xn, &y, opts));
        }
        fits.loss_vs_n_no_offset = f.fit("L(N) with E = 0", &xn, &y, Offset::Zero);
        if let Some(r) = reference {
            fits.loss_vs_n_fixed_e = f.fit("L(N) with E = reference", &xn, &y, Offset::Fixed(r));
        }
    }
    if let Some((n_at, count)) = choose_slice(&cells, |c| c.n, |c| c.d) {
        fits.d_at = Some(n_at);
        if Some(n_at) != max_n {
            f.warnings.push(format!(
                "L(D) uses N = {} (the largest N with the most data sizes, {count}), not the largest N = {}",
                sci(n_at as f64, 3),
                sci(max_n.unwrap_or(0) as f64, 3)
            ));
        }
        let slice: Vec<&Cell> = cells.iter().filter(|c| c.n == n_at).collect();
        let xd: Vec<f64> = slice.iter().map(|c| c.d as f64).collect();
        let y: Vec<f64> = slice.iter().map(|c| c.loss).collect();
        fits.loss_vs_d = f.fit("L(D)", &xd, &y, Offset::Free);
        if let (Some(r), Some(fit)) = (reference, &fits.loss_vs_d) {
            fits.floor_verdicts.push(floor_verdict("L(D)", fit, &y, r));
        }
        if opts.broken_power_law {
            let desc = format!("L(D) at N = {}", sci(n_at as f64, 2));
            fits.broken_power_laws.push(broken_law("L(D)", desc, &xd, &y, opts));
        }
        fits.loss_vs_d_no_offset = f.fit("L(D) with E = 0", &xd, &y, Offset::Zero);
        if let Some(r) = reference {
            fits.loss_vs_d_fixed_e = f.fit("L(D) with E = reference", &xd, &y, Offset::Fixed(r));
        }
    }
    fits.warnings = f.warnings;
    Ok(fits)
}

/// `[lo, hi]` in scientific notation, `–` without an interval.
fn sci_interval(ci: Option<(f64, f64)>) -> String {
    ci.map_or("–".into(), |(lo, hi)| format!("[{}, {}]", sci(lo, 2), sci(hi, 2)))
}

fn signed(v: f64, digits: usize) -> String {
    if v >= 0.0 { format!("+{}", sig(v, digits)) } else { sig(v, digits) }
}

/// Short plain-text summary for the terminal: exponents with bootstrap CIs, RMS residuals,
/// the verdicts on E against the reference and the learning-rate checks.
pub fn summary_text(fits: &ScalingFits) -> String {
    let mut s = String::new();
    for (name, desc, fit) in fits.labelled() {
        let Some(fit) = fit else { continue };
        let e_part = match fit.offset {
            Offset::Free => format!("E = {} {}", sig(fit.e, 3), interval(fit.e_ci, 3)),
            Offset::Fixed(e) => format!("E = {} (fixed)", sig(e, 3)),
            Offset::Zero => "E = 0 (fixed)".to_string(),
        };
        let _ = writeln!(
            s,
            "{name:<12} α = {} {:<18} {:<28} RMS log resid {}  ({} pts; {})",
            sig(fit.alpha, 3),
            interval(fit.alpha_ci, 3),
            e_part,
            sig(fit.rms_log_residual, 2),
            fit.n_points,
            desc
        );
    }
    for v in &fits.floor_verdicts {
        let _ = writeln!(
            s,
            "{}: E − reference ({}) = {} nats ({}%): {}",
            v.law,
            sig(v.reference, 4),
            signed(v.e.value - v.reference, 3),
            signed(100.0 * v.relative_difference, 2),
            v.verdict
        );
    }
    for b in &fits.broken_power_laws {
        match (&b.fit, &b.error) {
            (Some(f), _) => {
                let _ = writeln!(
                    s,
                    "{} broken power law: α₁ = {} {}, α₂ = {} {}, x_b = {} {}; RMS log resid {} (power law {}): {}",
                    b.law,
                    sig(f.law.alpha1, 3),
                    interval(f.alpha1_ci, 3),
                    sig(f.law.alpha2, 3),
                    interval(f.alpha2_ci, 3),
                    sci(f.law.x_b, 2),
                    sci_interval(f.x_b_ci),
                    sig(f.rms_log_residual, 2),
                    f.power_law_rms.map_or("–".into(), |r| sig(r, 2)),
                    f.verdict
                );
            }
            (None, e) => {
                let _ = writeln!(
                    s,
                    "{} broken power law not fitted: {}",
                    b.law,
                    e.as_deref().unwrap_or("")
                );
            }
        }
    }
    for c in &fits.lr_checks {
        let _ = writeln!(
            s,
            "learning-rate check at N = {}, D = {}: best peak lr {}, {}",
            sci(c.n as f64, 3),
            sci(c.d as f64, 3),
            c.best_lr.map(|l| sig(l, 3)).unwrap_or_else(|| "none".into()),
            c.position
        );
    }
    if s.is_empty() {
        s.push_str("no scaling law could be fitted\n");
    }
    for w in &fits.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    s
}

fn logspace(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let (a, b) = (lo.log10(), hi.log10());
    (0..n).map(|i| 10f64.powf(a + (b - a) * i as f64 / (n - 1) as f64)).collect()
}

fn fit_curve(fit: &PowerLawFit, label: String, style: CurveStyle, minus_e: Option<f64>) -> Curve {
    let (lo, hi) = fit.x_range;
    let points = logspace(lo / 1.3, hi * 1.3, 48)
        .into_iter()
        .map(|x| (x, fit.predict(x) - minus_e.unwrap_or(0.0)))
        .collect();
    Curve { label, points, style }
}

fn hlines(opts: &AnalysisOptions) -> Vec<(String, f64)> {
    let mut h = Vec::new();
    if let Some((name, v)) = &opts.reference_loss {
        h.push((format!("{name} = {}", sig(*v, 4)), *v));
    }
    if let Some(u) = opts.unigram_loss {
        h.push((format!("unigram = {}", sig(u, 4)), u));
    }
    h
}

fn fit_label(prefix: &str, fit: &PowerLawFit) -> String {
    match fit.offset {
        Offset::Free => format!("{prefix}: α = {}, E = {}", sig(fit.alpha, 3), sig(fit.e, 3)),
        Offset::Fixed(e) => format!("{prefix}, E = {} fixed: α = {}", sig(e, 3), sig(fit.alpha, 3)),
        Offset::Zero => format!("{prefix}, E = 0: α = {}", sig(fit.alpha, 3)),
    }
}

/// Plots of loss against one variable: a marker series per value of the other variable and
/// the fits (at the chosen slice) as lines.
#[allow(clippy::too_many_arguments)]
fn loss_plot(
    cells: &[Cell],
    opts: &AnalysisOptions,
    x_of: impl Fn(&Cell) -> u64,
    group_of: impl Fn(&Cell) -> u64,
    group_name: &str,
    fits: [Option<&PowerLawFit>; 3],
    at: Option<u64>,
    title: String,
    x_label: &str,
) -> PlotSpec {
    let mut groups: BTreeMap<u64, Vec<(f64, f64)>> = BTreeMap::new();
    for c in cells {
        groups.entry(group_of(c)).or_default().push((x_of(c) as f64, c.loss));
    }
    let mut curves: Vec<Curve> = groups
        .into_iter()
        .map(|(g, mut pts)| {
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            Curve {
                label: format!("{group_name} = {}", sci(g as f64, 2)),
                points: pts,
                style: CurveStyle::Markers,
            }
        })
        .collect();
    let at = at
        .map(|a| format!("fit at {group_name} = {}", sci(a as f64, 2)))
        .unwrap_or_else(|| "fit".into());
    for (k, fit) in fits.into_iter().enumerate() {
        if let Some(fit) = fit {
            let style = if k == 0 { CurveStyle::Line } else { CurveStyle::Dashed };
            curves.push(fit_curve(fit, fit_label(&at, fit), style, None));
        }
    }
    PlotSpec {
        title,
        x_label: x_label.into(),
        y_label: "eval loss (nats/token)".into(),
        log_x: true,
        log_y: true,
        curves,
        hlines: hlines(opts),
    }
}

/// `L − E` at the chosen slice, for the free-offset fit and (if any) the fixed-E fit.
fn minus_e_plot(
    cells: &[Cell],
    x_of: impl Fn(&Cell) -> u64,
    in_slice: impl Fn(&Cell) -> bool,
    fits: [Option<&PowerLawFit>; 2],
    title: String,
    x_label: &str,
) -> PlotSpec {
    let mut pts: Vec<(f64, f64)> =
        cells.iter().filter(|c| in_slice(c)).map(|c| (x_of(c) as f64, c.loss)).collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut curves = Vec::new();
    for (k, fit) in fits.into_iter().enumerate() {
        let Some(fit) = fit else { continue };
        let e = fit.e;
        let which = if k == 0 {
            format!("Ê = {} (fitted)", sig(e, 3))
        } else {
            format!("E = {} (reference)", sig(e, 3))
        };
        curves.push(Curve {
            label: format!("L − E, {which}"),
            points: pts.iter().map(|&(x, l)| (x, l - e)).filter(|p| p.1 > 0.0).collect(),
            style: CurveStyle::Markers,
        });
        curves.push(fit_curve(
            fit,
            format!("A·x^(−α), α = {}", sig(fit.alpha, 3)),
            if k == 0 { CurveStyle::Line } else { CurveStyle::Dashed },
            Some(e),
        ));
    }
    PlotSpec {
        title,
        x_label: x_label.into(),
        y_label: "eval loss − E (nats/token)".into(),
        log_x: true,
        log_y: true,
        curves,
        hlines: Vec::new(),
    }
}

fn compute_plot(records: &[RunRecord], opts: &AnalysisOptions) -> PlotSpec {
    // Every usable run (not only the best per cell): the envelope is over all of them.
    let runs: Vec<&RunRecord> = records
        .iter()
        .filter(|r| {
            r.status == RunStatus::Ok
                && r.eval_loss.is_finite()
                && r.eval_loss > 0.0
                && r.flops.is_finite()
                && r.flops > 0.0
        })
        .collect();
    let mut groups: BTreeMap<u64, Vec<(f64, f64)>> = BTreeMap::new();
    for r in &runs {
        groups.entry(r.params_non_embedding).or_default().push((r.flops, r.eval_loss));
    }
    let mut curves: Vec<Curve> = groups
        .into_iter()
        .map(|(n, mut pts)| {
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            Curve {
                label: format!("N = {}", sci(n as f64, 2)),
                points: pts,
                style: CurveStyle::Markers,
            }
        })
        .collect();
    let frontier = lower_envelope(runs.iter().map(|r| (r.flops, r.eval_loss)).collect());
    if !frontier.is_empty() {
        curves.push(Curve {
            label: "compute frontier (lower envelope)".into(),
            points: frontier,
            style: CurveStyle::Line,
        });
    }
    PlotSpec {
        title: format!("{}: loss vs compute", opts.title),
        x_label: "training FLOPs C".into(),
        y_label: "eval loss (nats/token)".into(),
        log_x: true,
        log_y: true,
        curves,
        hlines: hlines(opts),
    }
}

/// Points `(C, L)` on the lower envelope: no run with at most this compute has lower loss.
pub fn lower_envelope(mut pts: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    pts.retain(|p| p.0.is_finite() && p.1.is_finite());
    pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut out: Vec<(f64, f64)> = Vec::new();
    for p in pts {
        if out.last().is_none_or(|last| p.1 < last.1) {
            out.push(p);
        }
    }
    out
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Replaces `path` through a temporary file in its folder and a rename: a reader (or a
/// `scalinglab analyze` beside a running sweep) sees the old file or the new one, never a part.
/// Every file [`write_report`] writes into a run directory, so that a fresh start removes
/// exactly these (and no figure of the user's).
pub const REPORT_FILES: [&str; 8] = [
    "fits.json",
    "report.md",
    "report.html",
    "loss_vs_n.svg",
    "loss_vs_d.svg",
    "loss_minus_e_vs_n.svg",
    "loss_minus_e_vs_d.svg",
    "loss_vs_compute.svg",
];

/// Writes `fits.json`, `loss_vs_n.svg`, `loss_vs_d.svg`, `loss_minus_e_vs_n.svg`,
/// `loss_minus_e_vs_d.svg`, `loss_vs_compute.svg` (eval loss vs FLOPs per run, lower envelope
/// highlighted), `report.md` and `report.html` (the same with the plots inline) into `out_dir`
/// (created if needed); returns the fits.
///
/// # Errors
///
/// The errors of [`fit_sweep`]; [`AnalysisError::Io`], [`AnalysisError::Json`] or
/// [`AnalysisError::Plot`] when a file cannot be written.
pub fn write_report(
    records: &[RunRecord],
    opts: &AnalysisOptions,
    out_dir: &Path,
) -> Result<ScalingFits, AnalysisError> {
    let fits = fit_sweep(records, opts)?;
    std::fs::create_dir_all(out_dir)
        .map_err(|e| AnalysisError::io("cannot create report directory", out_dir, e))?;

    let json_path = out_dir.join("fits.json");
    let json = serde_json::to_string_pretty(&fits)
        .map_err(|e| AnalysisError::Json { path: json_path.clone(), source: e })?;
    write_file(&json_path, &json)?;

    let mut scratch = Vec::new();
    let cells = usable_cells(records, &mut scratch);

    let spec = loss_plot(
        &cells,
        opts,
        |c| c.n,
        |c| c.d,
        "D",
        [
            fits.loss_vs_n.as_ref(),
            fits.loss_vs_n_no_offset.as_ref(),
            fits.loss_vs_n_fixed_e.as_ref(),
        ],
        fits.n_at,
        format!("{}: loss vs N", opts.title),
        "non-embedding parameters N",
    );
    plot_svg(&out_dir.join("loss_vs_n.svg"), &spec)?;
    let spec = loss_plot(
        &cells,
        opts,
        |c| c.d,
        |c| c.n,
        "N",
        [
            fits.loss_vs_d.as_ref(),
            fits.loss_vs_d_no_offset.as_ref(),
            fits.loss_vs_d_fixed_e.as_ref(),
        ],
        fits.d_at,
        format!("{}: loss vs D", opts.title),
        "training tokens D",
    );
    plot_svg(&out_dir.join("loss_vs_d.svg"), &spec)?;
    let n_at = fits.n_at;
    let spec = minus_e_plot(
        &cells,
        |c| c.n,
        |c| Some(c.d) == n_at,
        [fits.loss_vs_n.as_ref(), fits.loss_vs_n_fixed_e.as_ref()],
        format!(
            "{}: L − E vs N{}",
            opts.title,
            n_at.map(|d| format!(" (D = {})", sci(d as f64, 2))).unwrap_or_default()
        ),
        "non-embedding parameters N",
    );
    plot_svg(&out_dir.join("loss_minus_e_vs_n.svg"), &spec)?;
    let d_at = fits.d_at;
    let spec = minus_e_plot(
        &cells,
        |c| c.d,
        |c| Some(c.n) == d_at,
        [fits.loss_vs_d.as_ref(), fits.loss_vs_d_fixed_e.as_ref()],
        format!(
            "{}: L − E vs D{}",
            opts.title,
            d_at.map(|n| format!(" (N = {})", sci(n as f64, 2))).unwrap_or_default()
        ),
        "training tokens D",
    );
    plot_svg(&out_dir.join("loss_minus_e_vs_d.svg"), &spec)?;
    plot_svg(&out_dir.join("loss_vs_compute.svg"), &compute_plot(records, opts))?;

    let md = report_markdown(records, &cells, opts, &fits);
    write_file(&out_dir.join("report.md"), &md)?;
    write_file(
        &out_dir.join("report.html"),
        &crate::html::markdown_to_html(&md, &opts.title, out_dir),
    )?;
    Ok(fits)
}

/// The "Broken power law" section: one row per slice, the reasons beside the table.
fn broken_markdown(fits: &ScalingFits) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "## Broken power law\n");
    let defaults = BrokenFitOptions::default();
    let _ = writeln!(
        md,
        "Each slice is also fitted with one break (Caballero et al. 2022): `L(x) = E + A·x^(−α₁)·(1 + \
         (x/x_b)^(1/f))^(−(α₂−α₁)·f)`, exponent α₁ below x_b and α₂ above, smoothness f fixed at {}; Huber loss \
         (δ = {}) on log residuals, {} L-BFGS starts, 95% residual-bootstrap intervals t-widened for the \
         degrees of freedom. The plain law `E + A·x^(−α)` is fitted to the same points with the same loss. A \
         break is \"resolved\" only when x_b lies inside the data with 3 or more points on each side, two or more \
         degrees of freedom are left, and the 95% interval of α₂ − α₁ excludes 0.\n",
        defaults.smoothness, defaults.huber_delta, defaults.starts
    );
    let _ =
        writeln!(md, "| law | E | α₁ | α₂ | x_b | RMS log residual (broken / power law) | break |");
    let _ = writeln!(md, "|---|---|---|---|---|---|---|");
    for b in &fits.broken_power_laws {
        match &b.fit {
            Some(f) => {
                let _ = writeln!(
                    md,
                    "| {} | {} {} | {} {} | {} {} | {} {} | {} / {} | {} |",
                    b.description,
                    sig(f.law.e, 3),
                    interval(f.e_ci, 3),
                    sig(f.law.alpha1, 3),
                    interval(f.alpha1_ci, 3),
                    sig(f.law.alpha2, 3),
                    interval(f.alpha2_ci, 3),
                    sci(f.law.x_b, 2),
                    sci_interval(f.x_b_ci),
                    sig(f.rms_log_residual, 2),
                    f.power_law_rms.map_or("–".into(), |r| sig(r, 2)),
                    f.verdict.short()
                );
            }
            None => {
                let _ = writeln!(md, "| {} | not fitted | | | | | |", b.description);
            }
        }
    }
    md.push('\n');
    for b in &fits.broken_power_laws {
        let why = match (&b.fit, &b.error) {
            (Some(f), _) => match &f.verdict {
                crate::broken::BreakVerdict::Resolved => continue,
                v => v.to_string(),
            },
            (None, e) => format!("not fitted: {}", e.as_deref().unwrap_or("")),
        };
        let _ = writeln!(md, "- {}: {}.", b.law, md_escape(&why));
    }
    md.push('\n');
    md
}

fn report_markdown(
    records: &[RunRecord],
    cells: &[Cell],
    opts: &AnalysisOptions,
    fits: &ScalingFits,
) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# {}\n", opts.title);
    if !opts.preamble.trim().is_empty() {
        let _ = writeln!(md, "{}\n", opts.preamble.trim_end());
    }

    // Fitted exponents.
    let _ = writeln!(md, "## Fitted exponents\n");
    let _ = writeln!(
        md,
        "Each law is `L(x) = E + A·x^(−α)`, fitted by least squares on log residuals. Intervals are 95% \
         fixed-design residual-bootstrap intervals, t-corrected for the degrees of freedom left \
         (a 4-point fit with a free offset has one, so its interval is wide by design; \
         {} resamples; `–` = none, e.g. a fit with no degree of freedom).\n",
        opts.bootstrap
    );
    let _ = writeln!(
        md,
        "| law | α | α 95% CI | E | E 95% CI | A | RMS log residual | points | x range |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
    let mut any = false;
    for (_, desc, fit) in fits.labelled() {
        let Some(fit) = fit else { continue };
        any = true;
        let e = match fit.offset {
            Offset::Free => sig(fit.e, 3),
            Offset::Fixed(e) => format!("{} (fixed)", sig(e, 3)),
            Offset::Zero => "0 (fixed)".into(),
        };
        let _ = writeln!(
            md,
            "| {desc} | {} | {} | {e} | {} | {} | {} | {} | {} – {} |",
            sig(fit.alpha, 3),
            interval(fit.alpha_ci, 3),
            interval(fit.e_ci, 3),
            sig(fit.a, 3),
            sig(fit.rms_log_residual, 2),
            fit.n_points,
            sci(fit.x_range.0, 2),
            sci(fit.x_range.1, 2),
        );
    }
    if !any {
        let _ = writeln!(md, "| (no law could be fitted; see warnings) | | | | | | | | |");
    }
    md.push('\n');

    // Offset sensitivity.
    let mut sens = Vec::new();
    for (law, free, zero, fixed) in [
        ("α_N", &fits.loss_vs_n, &fits.loss_vs_n_no_offset, &fits.loss_vs_n_fixed_e),
        ("α_D", &fits.loss_vs_d, &fits.loss_vs_d_no_offset, &fits.loss_vs_d_fixed_e),
    ] {
        if let Some(free) = free {
            let mut s = format!("{law} = {} with E free", sig(free.alpha, 3));
            if let Some(z) = zero {
                let _ = write!(s, ", {} with E = 0", sig(z.alpha, 3));
            }
            if let Some(f) = fixed {
                let _ = write!(s, ", {} with E at the reference", sig(f.alpha, 3));
            }
            sens.push(s);
        }
    }
    if let (Some(a), Some(b)) = (&fits.loss_vs_n, &fits.loss_vs_n_total) {
        sens.push(format!(
            "counting embeddings in N moves α_N from {} to {}",
            sig(a.alpha, 3),
            sig(b.alpha, 3)
        ));
    }
    if !sens.is_empty() {
        let _ = writeln!(md, "Sensitivity to the fitting choices: {}.\n", sens.join("; "));
    }

    if opts.broken_power_law {
        md.push_str(&broken_markdown(fits));
    }

    // E vs reference.
    if let Some((name, r)) = &opts.reference_loss {
        let _ = writeln!(md, "## Fitted offset vs {name}\n");
        if fits.floor_verdicts.is_empty() {
            let _ = writeln!(
                md,
                "No free-offset fit is available to compare with the {name} ({}).",
                sig(*r, 4)
            );
        } else {
            let _ = writeln!(
                md,
                "Does each law's free offset E find the {name} {} nats? The verdict says \"agrees\" when the \
                 {name} lies inside E's 95% interval, and is given only when the law is clean: E inside its \
                 range, two or more degrees of freedom left, α's interval within ±{:.0}% of α and E's within \
                 ±{:.0}% of E.\n",
                sig(*r, 5),
                100.0 * MAX_ALPHA_RELATIVE_HALF_WIDTH,
                100.0 * MAX_E_RELATIVE_HALF_WIDTH
            );
            let _ = writeln!(md, "| law | E | E 95% CI | E − {name} | α | α 95% CI | verdict |");
            let _ = writeln!(md, "|---|---|---|---|---|---|---|");
            for v in &fits.floor_verdicts {
                let ci = |e: &Estimate| interval(e.lo.is_finite().then_some((e.lo, e.hi)), 3);
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} nats ({}%) | {} | {} | {} |",
                    v.law,
                    sig(v.e.value, 4),
                    ci(&v.e),
                    signed(v.e.value - v.reference, 3),
                    signed(100.0 * v.relative_difference, 2),
                    sig(v.alpha.value, 3),
                    ci(&v.alpha),
                    v.verdict.short()
                );
            }
            md.push('\n');
            for v in &fits.floor_verdicts {
                if let Verdict::NotTestable(why) | Verdict::NotResolved(why) = &v.verdict {
                    let _ = writeln!(md, "- {}: {}: {why}.", v.law, v.verdict.short());
                }
            }
            let _ = writeln!(
                md,
                "\nAn offset fitted on a slice at fixed D (or N) also contains the other variable's finite-size term \
                 (e.g. B/D^β for L(N)), so it sits above the irreducible loss unless that term is negligible at the \
                 slice used. The intervals do not include the evaluation set's own sampling error, which shifts \
                 every eval loss alike (the true transition probabilities' score on the same held-out tokens \
                 measures it)."
            );
        }
        md.push('\n');
    }
    if !fits.lr_checks.is_empty() {
        let _ = writeln!(md, "## Learning-rate check\n");
        let _ = writeln!(
            md,
            "Runs that differ only in their peak learning rate. The best rate should be interior: with the \
             best at the smallest or largest rate tried, a rate beyond the grid may do better and the losses \
             above may sit above what the model can reach.\n"
        );
        let _ = writeln!(
            md,
            "| N | D | seed | peak lr: eval loss | best lr | margin to runner-up | verdict |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|");
        for c in &fits.lr_checks {
            let trials: Vec<String> = c
                .trials
                .iter()
                .map(|t| {
                    let loss = t.eval_loss.map(|l| sig(l, 4)).unwrap_or_else(|| "diverged".into());
                    format!("{}: {loss}", sig(t.lr, 3))
                })
                .collect();
            let short = match &c.position {
                LrPosition::Interior => "interior",
                LrPosition::LowerEdge => "**at the lower edge**",
                LrPosition::UpperEdge => "**at the upper edge**",
                LrPosition::NotTestable(_) => "not testable",
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {short} |",
                sci(c.n as f64, 3),
                sci(c.d as f64, 3),
                c.seed,
                trials.join("; "),
                c.best_lr.map(|l| sig(l, 3)).unwrap_or_else(|| "–".into()),
                c.margin.map(|m| format!("{} nats", sig(m, 2))).unwrap_or_else(|| "–".into()),
            );
        }
        md.push('\n');
        for c in &fits.lr_checks {
            if let LrPosition::NotTestable(_) = c.position {
                let _ = writeln!(
                    md,
                    "- N = {}, D = {}: {}.",
                    sci(c.n as f64, 3),
                    sci(c.d as f64, 3),
                    c.position
                );
            }
        }
        md.push('\n');
    }
    if let Some(u) = opts.unigram_loss
        && let Some(best) = cells.iter().min_by(|a, b| a.loss.total_cmp(&b.loss))
    {
        let mut s = format!(
            "The best run ({}) reaches {} nats against the unigram (context-free) loss {}",
            md_escape(&best.run.run_id),
            sig(best.loss, 4),
            sig(u, 4)
        );
        if let Some((name, r)) = &opts.reference_loss
            && (u - r).abs() > 0.0
        {
            let _ = write!(
                s,
                ": {}% of the gap from unigram to the {name} is closed",
                sig(100.0 * (u - best.loss) / (u - r), 3)
            );
        }
        let _ = writeln!(md, "{s}.\n");
    }

    // Plots.
    let _ = writeln!(md, "## Plots\n");
    let at_d =
        fits.n_at.map(|d| format!(" (fits at D = {})", sci(d as f64, 2))).unwrap_or_default();
    let at_n =
        fits.d_at.map(|n| format!(" (fits at N = {})", sci(n as f64, 2))).unwrap_or_default();
    let _ = writeln!(
        md,
        "Eval loss vs non-embedding N, one series per D{at_d}:\n\n![Eval loss vs N](loss_vs_n.svg)\n"
    );
    let _ = writeln!(
        md,
        "Eval loss vs D, one series per N{at_n}:\n\n![Eval loss vs D](loss_vs_d.svg)\n"
    );
    let _ = writeln!(
        md,
        "L − E on log-log axes, where a power law is a straight line (points with L ≤ E omitted):\n\n\
         ![L minus E vs N](loss_minus_e_vs_n.svg)\n\n![L minus E vs D](loss_minus_e_vs_d.svg)\n"
    );
    let _ = writeln!(
        md,
        "Eval loss vs training compute, one series per N; the line is the lower envelope (compute frontier):\n\n\
         ![Eval loss vs compute](loss_vs_compute.svg)\n"
    );

    // Runs.
    let _ = writeln!(md, "## Runs\n");
    let _ = writeln!(
        md,
        "| run_id | N | N non-emb. | D | FLOPs | steps | train loss | eval loss | wall s | device | status |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|");
    let mut sorted: Vec<&RunRecord> = records.iter().collect();
    sorted.sort_by(|a, b| {
        (a.params_non_embedding, a.tokens, &a.run_id).cmp(&(
            b.params_non_embedding,
            b.tokens,
            &b.run_id,
        ))
    });
    for r in sorted {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            md_escape(&r.run_id),
            sci(r.params as f64, 3),
            sci(r.params_non_embedding as f64, 3),
            sci(r.tokens as f64, 3),
            sci(r.flops, 3),
            r.steps,
            sig(r.train_loss, 4),
            sig(r.eval_loss, 4),
            sig(r.wall_seconds, 3),
            md_escape(&r.device),
            r.status
        );
    }
    md.push('\n');

    // Warnings.
    let _ = writeln!(md, "## Warnings\n");
    if fits.warnings.is_empty() {
        let _ = writeln!(md, "None.\n");
    } else {
        for w in &fits.warnings {
            let _ = writeln!(md, "- {}", md_escape(w));
        }
        md.push('\n');
    }

    // Conventions.
    let _ = writeln!(md, "## Conventions\n");
    let _ = writeln!(
        md,
        "- Losses are held-out cross-entropies in nats per token; only runs with status `ok` are fitted, \
           keeping the lowest eval loss per (N, D) cell (best of seeds/learning rates).\n\
         - N is the non-embedding parameter count (Kaplan et al. 2020) unless marked \"incl. emb.\"; the \
           L(N_total) row counts token and position embeddings.\n\
         - D is the number of training tokens (predicted targets) seen.\n\
         - FLOPs are training FLOPs (forward and backward) per token, times D: {}. Embedding \
           look-ups are not counted.\n\
         - Offsets: \"E free\" fits the irreducible loss E within [0, min L); \"E = 0\" is a pure power law \
           (Kaplan's form), \"E = reference\" holds E at the known irreducible loss. Exponents depend on this \
           choice, on the counting of N and on the fit window; all three are reported.\n\
         - Fits minimise squared residuals of ln L over (E, ln A, α) by L-BFGS from a grid of starts; \
           95% intervals are fixed-design residual-bootstrap intervals, t-corrected for the degrees of freedom (seed {}).",
        opts.flop_convention, opts.seed
    );
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::RunStatus;

    #[test]
    fn slices_prefer_the_largest_key_among_the_fullest_groups() {
        let r = &synthetic_grid()[0];
        let cell = |n, d| Cell { n, n_total: n, d, loss: 1.0, run: r };
        // Every N has two data sizes: the slice is at the largest N.
        let cells =
            vec![cell(1, 10), cell(1, 20), cell(5, 10), cell(5, 20), cell(9, 10), cell(9, 20)];
        assert_eq!(choose_slice(&cells, |c| c.n, |c| c.d), Some((9, 2)));
        // A smaller N with more data sizes wins over a larger one with fewer.
        let cells = vec![cell(1, 10), cell(1, 20), cell(9, 10)];
        assert_eq!(choose_slice(&cells, |c| c.n, |c| c.d), Some((1, 2)));
    }

    #[test]
    fn the_offset_verdict_needs_a_clean_law_and_then_finds_the_floor() {
        let xs: Vec<f64> = (0..9).map(|i| 1e3 * 2f64.powi(i)).collect();
        let noise = [0.002, -0.001, 0.0015, -0.002, 0.001, -0.0005, 0.002, -0.0015, 0.0005];
        let ys: Vec<f64> =
            xs.iter().zip(noise).map(|(x, e)| (2.0 + 30.0 * x.powf(-0.5)) * (1.0 + e)).collect();
        let fo =
            FitOptions { offset: Offset::Free, loss: FitLoss::Squared, bootstrap: 200, seed: 0 };
        let fit = fit_power_law(&xs, &ys, &fo).unwrap();
        let v = floor_verdict("L(N)", &fit, &ys, 2.0);
        assert_eq!(v.verdict, Verdict::Agrees, "{v:?}");
        assert!(v.preconditions.iter().all(|p| p.holds));
        let v = floor_verdict("L(N)", &fit, &ys, 1.6);
        assert_eq!(v.verdict, Verdict::Disagrees, "{v:?}");
        // Four points leave one degree of freedom: not testable, whatever E is.
        let fit4 = fit_power_law(&xs[..4], &ys[..4], &fo).unwrap();
        let v = floor_verdict("L(N)", &fit4, &ys[..4], 2.0);
        assert!(
            matches!(&v.verdict, Verdict::NotTestable(w) if w.contains("degrees of freedom")),
            "{v:?}"
        );
    }

    fn synthetic_grid() -> Vec<RunRecord> {
        let ns = [1.0e4, 1.0e5, 1.0e6, 1.0e7];
        let ds = [1.0e5, 1.0e6, 1.0e7, 1.0e8];
        let mut out = Vec::new();
        for (i, &n) in ns.iter().enumerate() {
            for (j, &d) in ds.iter().enumerate() {
                let loss = 1.0 + 50.0 * f64::powf(n, -0.5) + 200.0 * f64::powf(d, -0.4);
                let fpt = 6.0 * n + 1000.0;
                out.push(RunRecord {
                    run_id: format!("n{i}_d{j}"),
                    arch: "gpt2".into(),
                    d_model: 64 << i,
                    n_layers: 2,
                    n_heads: 4,
                    context: 50,
                    vocab_size: 1000,
                    params: n as u64 + 64_000,
                    params_non_embedding: n as u64,
                    tokens: d as u64,
                    steps: (d / 5000.0) as u64,
                    batch_size: 100,
                    lr: 1e-3,
                    flops_per_token: fpt,
                    flops: fpt * d,
                    train_loss: loss * 0.99,
                    eval_loss: loss,
                    wall_seconds: 1.0 + i as f64,
                    device: "cpu".into(),
                    seed: 0,
                    status: RunStatus::Ok,
                    epochs: 1,
                });
            }
        }
        out
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir()
            .join(format!("scalinglab-analysis-report-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn write_report_on_synthetic_grid() {
        let records = synthetic_grid();
        let dir = temp_dir("grid");
        let e_true_n = 1.0 + 200.0 * f64::powf(1e8, -0.4);
        let opts = AnalysisOptions {
            title: "Synthetic 4×4".into(),
            reference_loss: Some(("entropy rate".into(), 1.0)),
            unigram_loss: Some(6.9),
            bootstrap: 50,
            seed: 3,
            preamble: "Generated from L = 1 + 50 N^-0.5 + 200 D^-0.4.".into(),
            ..Default::default()
        };
        let fits = write_report(&records, &opts, &dir).unwrap();
        for f in [
            "fits.json",
            "loss_vs_n.svg",
            "loss_vs_d.svg",
            "loss_minus_e_vs_n.svg",
            "loss_minus_e_vs_d.svg",
            "loss_vs_compute.svg",
            "report.md",
        ] {
            let p = dir.join(f);
            assert!(
                p.is_file() && std::fs::metadata(&p).unwrap().len() > 100,
                "{f} missing or empty"
            );
        }
        let back: ScalingFits =
            serde_json::from_str(&std::fs::read_to_string(dir.join("fits.json")).unwrap()).unwrap();
        let ln = back.loss_vs_n.as_ref().unwrap();
        assert!((ln.alpha - 0.5).abs() < 0.02, "alpha_N = {}", ln.alpha);
        assert!((ln.e - e_true_n).abs() < 0.02, "E_N = {} vs {e_true_n}", ln.e);
        let ld = back.loss_vs_d.as_ref().unwrap();
        assert!((ld.alpha - 0.4).abs() < 0.02, "alpha_D = {}", ld.alpha);
        assert_eq!(back.n_at, Some(100_000_000));
        assert_eq!(back.d_at, Some(10_000_000));
        assert_eq!(back.reference_loss, Some(1.0));
        assert!(back.loss_vs_n_fixed_e.is_some() && back.loss_vs_d_fixed_e.is_some());
        assert!(
            back.loss_vs_n_no_offset.as_ref().unwrap().alpha < 0.5,
            "no offset flattens the exponent"
        );
        assert_eq!(fits.loss_vs_n.unwrap().alpha, ln.alpha);
        // 4 points, 3 parameters: one degree of freedom, no dof warning; but not zero either.
        assert!(!back.warnings.iter().any(|w| w.contains("0 degrees")), "{:?}", back.warnings);

        let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
        assert!(md.starts_with("# Synthetic 4×4"));
        assert!(md.contains("Generated from L"));
        assert!(md.contains("## Fitted exponents") && md.contains("| law | α |"));
        assert!(md.contains("![Eval loss vs N](loss_vs_n.svg)"));
        assert!(md.contains("loss_vs_compute.svg") && md.contains("loss_minus_e_vs_d.svg"));
        assert!(md.contains("| n3_d3 |"), "runs table");
        assert!(md.contains("entropy rate") && md.contains("nats ("));
        assert!(md.contains("## Conventions"));
        assert!(md.contains("per token, times D: as recorded in the results."), "{md}");
        let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
        let tags = crate::html::check_well_formed(&html).unwrap();
        assert_eq!(tags.iter().filter(|t| *t == "svg").count(), 5, "every plot inline");
        assert!(html.contains("<h2>Fitted exponents</h2>") && html.contains("<table>"));
        let svg = std::fs::read_to_string(dir.join("loss_vs_n.svg")).unwrap();
        assert!(svg.contains("D = 1.0e5") && svg.contains("entropy rate"));

        let text = summary_text(&back);
        assert!(text.contains("L(N)") && text.contains("α = 0.5"), "{text}");
        assert!(text.contains("E − reference"), "{text}");
    }

    #[test]
    fn small_and_messy_sweeps() {
        let mut records = synthetic_grid();
        // Keep 3 N at the largest D, diverge one run, add a NaN-loss "ok" run and a duplicate cell.
        records.retain(|r| !(r.tokens == 100_000_000 && r.params_non_embedding == 10_000));
        records[0].status = RunStatus::Diverged;
        records[0].eval_loss = f64::NAN;
        records[1].eval_loss = f64::NAN;
        let mut dup = records[5].clone();
        dup.run_id = "dup".into();
        dup.eval_loss -= 0.001;
        records.push(dup);
        let opts = AnalysisOptions { bootstrap: 0, ..Default::default() };
        let fits = fit_sweep(&records, &opts).unwrap();
        let w = fits.warnings.join("\n");
        assert!(w.contains("diverged") && w.contains(&records[0].run_id), "{w}");
        assert!(w.contains("eval_loss = NaN"), "{w}");
        assert!(w.contains("lowest eval loss of each such cell"), "{w}");
        assert!(
            w.contains("dup (lr") && !w.contains(&records[6].run_id),
            "only the shared cell: {w}"
        );
        assert!(w.contains("0 degrees of freedom"), "{w}");
        assert_eq!(fits.n_at, Some(100_000_000));
        assert!(fits.loss_vs_n.is_some());

        // Two model sizes only: no free-offset L(N), a warning, and the no-offset fit survives.
        let two: Vec<RunRecord> =
            synthetic_grid().into_iter().filter(|r| r.params_non_embedding <= 100_000).collect();
        let fits = fit_sweep(&two, &opts).unwrap();
        assert!(fits.loss_vs_n.is_none() && fits.loss_vs_n_no_offset.is_some());
        assert!(fits.warnings.iter().any(|w| w.contains("L(N) not fitted")), "{:?}", fits.warnings);
        let dir = temp_dir("two");
        write_report(&two, &opts, &dir).unwrap();
        assert!(dir.join("loss_minus_e_vs_n.svg").is_file());
        assert!(!summary_text(&fits).is_empty());

        // Nothing usable is an error; so is a NaN reference.
        let mut bad = synthetic_grid();
        for r in &mut bad {
            r.status = RunStatus::Diverged;
        }
        assert!(fit_sweep(&bad, &opts).unwrap_err().to_string().contains("no usable runs"));
        let o =
            AnalysisOptions { reference_loss: Some(("h".into(), f64::NAN)), ..Default::default() };
        assert!(fit_sweep(&synthetic_grid(), &o).unwrap_err().to_string().contains("reference"));
        assert!(fit_sweep(&[], &opts).is_err());
    }

    #[test]
    fn an_offset_far_from_the_reference_is_never_called_agreement() {
        // A noise-free grid, but the reference is far below the true offset. With four points
        // per slice the laws are not clean enough for a verdict (one degree of freedom left).
        let records = synthetic_grid();
        let opts = AnalysisOptions {
            reference_loss: Some(("entropy rate".into(), 0.5)),
            bootstrap: 50,
            ..Default::default()
        };
        let dir = temp_dir("outside");
        let fits = write_report(&records, &opts, &dir).unwrap();
        let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
        assert_eq!(fits.floor_verdicts.len(), 3, "L(N), L(N_total), L(D)");
        for v in &fits.floor_verdicts {
            assert!(
                matches!(&v.verdict, Verdict::NotTestable(w) if w.contains("degrees of freedom")),
                "{v:?}"
            );
        }
        assert!(md.contains("| not testable |") && md.contains("degrees of freedom"), "{md}");
        assert!(summary_text(&fits).contains("not testable"));
    }

    #[test]
    fn envelope() {
        let pts = vec![(1.0, 5.0), (2.0, 4.0), (2.5, 4.5), (3.0, 3.0), (4.0, 3.5), (5.0, 2.0)];
        assert_eq!(lower_envelope(pts), vec![(1.0, 5.0), (2.0, 4.0), (3.0, 3.0), (5.0, 2.0)]);
    }
}
