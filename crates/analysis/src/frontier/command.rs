//! `scalinglab fit`: the library side of the command.

use std::path::{Path, PathBuf};

use super::analysis::{AnalysisSettings, FitReport, Resampling, analyze};
use super::data::{
    ComputeCounting, CsvColumns, ParamCounting, is_results_csv, points_from_records,
    read_curves_csv, read_points_csv,
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
    pub curves: Option<PathBuf>,
    /// `--reference-compute C`: budget of the reported `N_opt`, `D_opt`, `D/N`. Default: the
    /// largest run's compute.
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

/// Reads `input`, runs the chosen methods and writes `fit.json`, `fit.md` and SVG plots
/// (`loss_vs_n.svg`, `loss_vs_d.svg`, `loss_vs_c.svg`, `isoflop.svg` when approach 2 ran,
/// `frontier_n.svg`, `frontier_d.svg`) into `out_dir` (created if needed).
///
/// `input` is a scalinglab `results.csv` (recognised by its header), a run directory that
/// contains one, or any CSV with a header, read with the column options. Print
/// [`FitReport::summary_text`] for the terminal.
///
/// Errors: unreadable or malformed input (file, line, column); invalid options; no method
/// could be fitted (each method's reason); files that cannot be written.
pub fn fit_command(
    input: &Path,
    opts: &FitCommandOptions,
    out_dir: &Path,
) -> Result<FitReport, AnalysisError> {
    let file = if input.is_dir() { input.join("results.csv") } else { input.to_path_buf() };
    let mut data = if is_results_csv(&file)? {
        let records = read_results(&file)?;
        let mut d = points_from_records(&records, opts.params, opts.compute)?;
        d.source = "scalinglab results".into();
        d
    } else {
        let cols = CsvColumns {
            n: opts.n_column.clone(),
            d: Some(opts.d_column.clone()),
            c: opts.c_column.clone(),
            loss: opts.loss_column.clone(),
            run_id: opts.run_id_column.clone(),
        };
        read_points_csv(&file, &cols)?
    };
    if let Some(c) = &opts.curves {
        data.curves = read_curves_csv(c)?;
    }
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
    };
    let mut report = analyze(&data, &settings)?;
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
    std::fs::write(&md_path, report.markdown())
        .map_err(|e| AnalysisError::io("cannot write", &md_path, e))?;
    let json_path = out_dir.join("fit.json");
    let json = serde_json::to_string_pretty(&report)
        .map_err(|e| AnalysisError::Json { path: json_path.clone(), source: e })?;
    std::fs::write(&json_path, json)
        .map_err(|e| AnalysisError::io("cannot write", &json_path, e))?;
    Ok(report)
}
