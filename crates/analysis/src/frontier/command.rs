//! `scalinglab fit`: the library side of the command.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::analysis::{AnalysisSettings, FitReport, KnownFloor, Resampling, analyze};
use super::constrained::{
    ConstrainedFitOptions, RepeatedPoint, fit_constrained_law, read_repeated_csv,
    repeated_points_from_records,
};
use super::data::{
    ComputeCounting, CsvColumns, CurvePoint, ParamCounting, ScalingData, is_results_csv,
    points_from_records, read_points_csv, read_training_curves,
};
use super::joint::JointFitOptions;
use super::output::write_plots;
use super::{IsoFlopOptions, Method, SurfaceOptions};
use crate::error::AnalysisError;
use crate::records::read_results;

/// Options of [`fit_command`], one field per flag of
/// `scalinglab fit RESULTS [--method ...] [--out DIR] ...` (`--out DIR` is `fit_command`'s
/// `out_dir`).
#[derive(Clone, Debug, PartialEq)]
pub struct FitCommandOptions {
    /// `--method approach1|approach2|approach3|surface|all` (comma-separated lists allowed;
    /// parse with [`super::parse_methods`]). Default: all four.
    pub methods: Vec<Method>,
    /// `--n-column NAME`: parameter column of a generic CSV. Default `N`.
    pub n_column: String,
    /// `--d-column NAME`: token column of a generic CSV. Default `D`.
    pub d_column: String,
    /// `--c-column NAME`: compute column of a generic CSV, used instead of (or with) `D`.
    /// Default none; a column named `C` is used when the `D` column is missing.
    pub c_column: Option<String>,
    /// `--loss-column NAME`: loss column of a generic CSV. Default `loss`.
    pub loss_column: String,
    /// `--run-id-column NAME`: optional run-name column of a generic CSV.
    pub run_id_column: Option<String>,
    /// `--unique-column NAME`: unique-token column `U_D` of a generic CSV, for the
    /// data-constrained law ([`super::constrained`]). Default none: a column named `U` is used
    /// when present. (A results file gives `U_D = tokens / epochs`.)
    pub unique_column: Option<String>,
    /// `--bootstrap N`: resamples per method (0 = no intervals). Default 1,000.
    pub bootstrap: usize,
    /// `--resample residuals|runs`: how the bootstrap draws its resamples (see
    /// [`super::analysis`]). Default residuals (fixed design).
    pub resampling: Resampling,
    /// `--starts N`: L-BFGS starts of approach 3. Default 4,500 (Chinchilla's grid).
    pub starts: usize,
    /// `--huber-delta X`: approach 3's Huber δ. Default 1e-3.
    pub huber_delta: f64,
    /// `--params non-embedding|total` (results files only): whether `N` counts embeddings.
    /// Default non-embedding.
    pub params: ParamCounting,
    /// `--compute 6nd|recorded|recorded-without-unembedding` (results files only). Default 6nd.
    pub compute: ComputeCounting,
    /// `--curves FILE`: training curves (`run_id,tokens_seen,flops_so_far,loss`) for approach 1.
    /// Default none: a [`CURVES_FILE`] (`curves.csv`) beside a scalinglab results file is used
    /// when there is one.
    pub curves: Option<PathBuf>,
    /// `--reference-compute C`: budget of the reported `N_opt`, `D_opt`, `D/N`, in FLOPs.
    /// Default: the largest run's compute.
    pub reference_compute: Option<f64>,
    /// `--holdout-sizes K`: largest model sizes held out by the extrapolation check, raised
    /// until at least 10% of the runs are held out (0 = off). Default 1.
    pub holdout_sizes: usize,
    /// `--no-windows` sets this to false: skip the fit-window sweep. Default true.
    pub windows: bool,
    /// `--seed S`: seed of the bootstrap. Default 0.
    pub seed: u64,
    /// `--title TEXT`: title of `fit.md`. Default: derived from the input file.
    pub title: Option<String>,
    /// `--budget C` (repeatable, or a comma-separated list): budgets in FLOPs, in the data's
    /// compute convention, at which each method's compute-optimal `N`, `D`, `D/N` and loss
    /// are reported with 95% intervals ([`super::answers`]). Default none.
    pub budgets: Vec<f64>,
    /// `--predict N,D` (repeatable): model sizes and token counts whose loss approach 3 (and
    /// the surface, inside the runs) predicts with 95% intervals; parse each with
    /// [`super::parse_predict`]. Default none.
    pub predict: Vec<(f64, f64)>,
    /// `--floor L`: a loss no model can go below (the data's irreducible loss, e.g. a walk's
    /// exact entropy rate), in the unit of the data's losses. Approach 3's `E` and every
    /// predicted loss below it are flagged. Default: the `reference_loss` a scalinglab sweep
    /// recorded in `fits.json` beside the results file, when there is one.
    pub floor: Option<f64>,
}

impl Default for FitCommandOptions {
    /// The defaults documented on each field.
    fn default() -> Self {
        FitCommandOptions {
            methods: Method::ALL.to_vec(),
            n_column: "N".into(),
            d_column: "D".into(),
            c_column: None,
            loss_column: "loss".into(),
            run_id_column: None,
            unique_column: None,
            bootstrap: 1000,
            resampling: Resampling::Residuals,
            starts: 4500,
            huber_delta: 1e-3,
            params: ParamCounting::NonEmbedding,
            compute: ComputeCounting::SixND,
            curves: None,
            reference_compute: None,
            holdout_sizes: 1,
            windows: true,
            seed: 0,
            title: None,
            budgets: Vec::new(),
            predict: Vec::new(),
            floor: None,
        }
    }
}

impl std::str::FromStr for ParamCounting {
    type Err = AnalysisError;

    /// `non-embedding` (or `non_embedding`) or `total`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "non-embedding" => Ok(ParamCounting::NonEmbedding),
            "total" => Ok(ParamCounting::Total),
            o => Err(AnalysisError::invalid(
                "--params",
                format!("unknown `{o}`; expected non-embedding or total"),
            )),
        }
    }
}

impl std::str::FromStr for ComputeCounting {
    type Err = AnalysisError;

    /// `6nd`, `recorded` or `recorded-without-unembedding`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "6nd" | "six-nd" => Ok(ComputeCounting::SixND),
            "recorded" => Ok(ComputeCounting::Recorded),
            "recorded-without-unembedding" => Ok(ComputeCounting::RecordedWithoutUnembedding),
            o => Err(AnalysisError::invalid(
                "--compute",
                format!("unknown `{o}`; expected 6nd, recorded or recorded-without-unembedding"),
            )),
        }
    }
}

/// Whether the CSV at `path` has a column `name` (exactly, or ignoring case and surrounding
/// spaces).
fn has_column(path: &Path, name: &str) -> Result<bool, AnalysisError> {
    let file = std::fs::File::open(path)
        .map_err(|e| AnalysisError::io("cannot open CSV file", path, e))?;
    let mut reader =
        csv::ReaderBuilder::new().has_headers(true).comment(Some(b'#')).from_reader(file);
    let headers = reader.headers().map_err(|e| AnalysisError::Csv {
        path: path.to_path_buf(),
        line: 1,
        message: format!("cannot read the header: {e}"),
    })?;
    Ok(headers.iter().any(|h| h == name || h.trim().eq_ignore_ascii_case(name.trim())))
}

/// The trainer's training-curve file, picked up when it sits beside the results file.
pub const CURVES_FILE: &str = "curves.csv";

/// Reads training curves from `path` into `data`, keeping the points of runs that are fitted.
/// Returns how many runs have curve points.
///
/// Rows without a finite positive `tokens_seen`, `flops_so_far` and `loss` (the evaluation
/// at step 0, a diverged run) and the curves of runs that are not fitted (diverged, merged
/// into a better run of their cell, still training) are left out with a warning. Errors: an
/// unreadable or malformed file, or curves none of whose runs are fitted (naming the file
/// and a few of its run ids).
fn attach_curves(data: &mut ScalingData, path: &Path) -> Result<usize, AnalysisError> {
    let curves = read_training_curves(path)?;
    if let Some(s) = curves.skipped_summary() {
        data.warnings.push(format!("{}: {s}", path.display()));
    }
    let fitted: HashSet<&str> = data.points.iter().map(|p| p.run_id.as_str()).collect();
    let (kept, dropped): (Vec<CurvePoint>, Vec<CurvePoint>) =
        curves.points.into_iter().partition(|c| fitted.contains(c.run_id.as_str()));
    let runs = |v: &[CurvePoint]| {
        let mut ids: Vec<String> = v.iter().map(|c| c.run_id.clone()).collect();
        ids.sort();
        ids.dedup();
        ids
    };
    let (kept_runs, dropped_runs) = (runs(&kept), runs(&dropped));
    let sample = |ids: &[String]| {
        let mut s = ids.iter().take(5).map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ");
        if ids.len() > 5 {
            s.push_str(", …");
        }
        s
    };
    if kept.is_empty() {
        return Err(AnalysisError::invalid(
            format!("training curves {}", path.display()),
            format!(
                "none of its {} run(s) ({}) is among the {} runs fitted",
                dropped_runs.len(),
                sample(&dropped_runs),
                data.points.len()
            ),
        ));
    }
    if !dropped_runs.is_empty() {
        data.warnings.push(format!(
            "{}: the curves of {} run(s) that are not fitted (diverged, merged into a better run of their cell, \
             repeating their data, or without a result yet) left out: {}",
            path.display(),
            dropped_runs.len(),
            sample(&dropped_runs)
        ));
    }
    data.curves = kept;
    Ok(kept_runs.len())
}

/// Reads `input`, runs the chosen methods and writes `fit.json`, `fit.md` and SVG plots
/// (`loss_vs_n.svg`, `loss_vs_d.svg`, `loss_vs_c.svg`, `isoflop.svg` when approach 2 ran,
/// `frontier_n.svg`, `frontier_d.svg`) into `out_dir` (created if needed).
///
/// `input` is a scalinglab `results.csv` (recognised by its header), a run directory that
/// contains one, or any CSV with a header, read with the column options. Approach 1 uses
/// training curves from `opts.curves`, or else from the trainer's [`CURVES_FILE`] when it
/// sits beside a scalinglab results file (see [`FitReport::curves`] for what was used). When
/// the input carries unique-token counts (a results file's `epochs`; a generic CSV's
/// `--unique-column`, or a column `U`), the data-constrained law is fitted beside approach 3
/// ([`FitReport::constrained`]). Print [`FitReport::summary_text`] for the terminal.
///
/// # Errors
///
/// Unreadable or malformed input (file, line, column); invalid options (a `--budget` or
/// `--predict` value that is not finite and > 0, named with its value); no method could be fitted
/// (each method's reason); files that cannot be written.
pub fn fit_command(
    input: &Path,
    opts: &FitCommandOptions,
    out_dir: &Path,
) -> Result<FitReport, AnalysisError> {
    if !(opts.huber_delta.is_finite() && opts.huber_delta > 0.0) {
        return Err(AnalysisError::invalid(
            "--huber-delta",
            format!("{} must be a finite number above 0", opts.huber_delta),
        ));
    }
    if let Some(f) = opts.floor
        && !(f.is_finite() && f >= 0.0)
    {
        return Err(AnalysisError::invalid("--floor", format!("{f}: must be a finite loss ≥ 0")));
    }
    if opts.starts == 0 {
        return Err(AnalysisError::invalid("--starts", "0: approach 3 needs at least one start"));
    }
    super::answers::validate(&opts.budgets, &opts.predict, "--budget", "--predict")?;
    let file = if input.is_dir() { input.join("results.csv") } else { input.to_path_buf() };
    let results_file = is_results_csv(&file)?;
    // Runs with their unique-token counts, when the input has them (data-constrained law).
    let mut repeated: Option<Vec<RepeatedPoint>> = None;
    let mut data = if results_file {
        let records = read_results(&file)?;
        // Approaches 1–3 and the surface assume every token is new: runs that repeat their
        // data go to the data-constrained law only.
        let once: Vec<_> = records.iter().filter(|r| r.epochs <= 1).cloned().collect();
        if once.is_empty() && !records.is_empty() {
            return Err(AnalysisError::invalid(
                "epochs",
                format!(
                    "{} in every run of {}: every run repeats its data; approaches 1–3 assume every \
                     token is new, and the data-constrained law needs one-epoch runs beside the \
                     repeated ones",
                    records[0].epochs,
                    file.display()
                ),
            ));
        }
        let mut d = points_from_records(&once, opts.params, opts.compute)?;
        d.source = "scalinglab results".into();
        if once.len() < records.len() {
            d.warnings.push(format!(
                "{} run(s) repeat their data (epochs > 1): left out of approaches 1–3 and the surface, \
                 fitted by the data-constrained law",
                records.len() - once.len()
            ));
            repeated = Some(repeated_points_from_records(&records, opts.params));
        }
        d
    } else {
        let cols = CsvColumns {
            n: opts.n_column.clone(),
            d: Some(opts.d_column.clone()),
            c: opts.c_column.clone(),
            loss: opts.loss_column.clone(),
            run_id: opts.run_id_column.clone(),
        };
        let d = read_points_csv(&file, &cols)?;
        let unique = match &opts.unique_column {
            Some(u) => Some(u.clone()),
            None => has_column(&file, "U")?.then(|| "U".to_string()),
        };
        if let Some(u) = unique {
            repeated = Some(read_repeated_csv(&file, &cols, &u)?);
        }
        d
    };
    // Training curves: `--curves FILE`, else a `curves.csv` beside the results file.
    let beside = file.parent().map(|d| d.join(CURVES_FILE)).filter(|p| results_file && p.is_file());
    let curves_used = match (&opts.curves, beside) {
        (Some(c), _) => Some((attach_curves(&mut data, c)?, c.clone(), "--curves")),
        (None, Some(p)) => match attach_curves(&mut data, &p) {
            Ok(n) => Some((n, p, "found beside the results file")),
            // A stray file must not stop the fit: say why it was not used.
            Err(e) => {
                data.warnings.push(format!("{CURVES_FILE} beside the results file not used: {e}"));
                None
            }
        },
        (None, None) => None,
    };
    let settings = AnalysisSettings {
        methods: opts.methods.clone(),
        bootstrap: opts.bootstrap,
        resampling: opts.resampling,
        seed: opts.seed,
        joint: JointFitOptions {
            huber_delta: opts.huber_delta,
            starts: opts.starts,
            seed: opts.seed,
            ..Default::default()
        },
        isoflop: IsoFlopOptions::default(),
        surface: SurfaceOptions::default(),
        reference_compute: opts.reference_compute,
        holdout_sizes: opts.holdout_sizes,
        windows: opts.windows,
        budgets: opts.budgets.clone(),
        predict: opts.predict.clone(),
    };
    let mut report = analyze(&data, &settings)?;
    if let Some(points) = repeated {
        let co = ConstrainedFitOptions {
            huber_delta: opts.huber_delta,
            bootstrap: opts.bootstrap,
            seed: opts.seed,
            ..Default::default()
        };
        match fit_constrained_law(&points, &co) {
            Ok(fit) => report.constrained = Some(fit),
            Err(e) => report.constrained_error = Some(e.to_string()),
        }
    }
    if let Some((n, path, how)) = curves_used {
        let used = if settings.methods.contains(&Method::Approach1) {
            "approach 1 used "
        } else {
            "not used (approach 1 was not run): "
        };
        report.curves = format!(
            "{used}{} training-curve points from {} runs, read from {} ({how})",
            data.curves.len(),
            n,
            path.display()
        );
    }
    let floor = match opts.floor {
        Some(f) => Some(KnownFloor { loss: f, source: "--floor".into() }),
        None if results_file => recorded_floor(&file),
        None => None,
    };
    if let Some(f) = &floor {
        let below = super::answers::below_floor(&report, f.loss);
        report.warnings.extend(below.iter().map(|b| b.describe(f)));
    }
    report.floor = floor;
    report.input = file.display().to_string();
    report.title =
        opts.title.clone().unwrap_or_else(|| format!("Compute-optimal fits of {}", file.display()));

    std::fs::create_dir_all(out_dir)
        .map_err(|e| AnalysisError::io("cannot create output directory", out_dir, e))?;
    let mut files = write_plots(&report, out_dir)?;
    files.push("fit.md".into());
    files.push("fit.json".into());
    report.files = files;
    let md_path = out_dir.join("fit.md");
    crate::atomic::write_file(&md_path, report.markdown())?;
    let json_path = out_dir.join("fit.json");
    let json = serde_json::to_string_pretty(&report)
        .map_err(|e| AnalysisError::Json { path: json_path.clone(), source: e })?;
    crate::atomic::write_file(&json_path, json)?;
    Ok(report)
}

/// The irreducible loss a scalinglab sweep recorded beside its results: `reference_loss` in
/// `fits.json` in the same directory (absent, unreadable or not finite: none).
fn recorded_floor(results: &Path) -> Option<KnownFloor> {
    let path = results.parent()?.join("fits.json");
    let text = std::fs::read_to_string(&path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    let loss = json.get("reference_loss")?.as_f64().filter(|v| v.is_finite() && *v >= 0.0)?;
    Some(KnownFloor { loss, source: format!("reference_loss in {}", path.display()) })
}
