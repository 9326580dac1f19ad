//! Inputs of the compute-optimal analysis: points `(N, D, C, L)`, training-curve points, the
//! counting conventions, and the readers that build them from a scalinglab `results.csv` or
//! from any CSV with a header.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::AnalysisError;
use crate::records::{RunRecord, RunStatus, csv_header};

/// One fitted observation: a finished run (or one row of a user CSV).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScalingPoint {
    /// Run name (`line<k>` for a CSV without a run-id column).
    pub run_id: String,
    /// Parameters `N`, counted as [`Conventions::params`] says.
    pub n: f64,
    /// Training tokens `D`.
    pub d: f64,
    /// Training compute `C` in FLOPs, counted as [`Conventions::compute`] says.
    pub c: f64,
    /// Final held-out loss, nats per token.
    pub loss: f64,
}

/// One point of a run's training curve, for approach 1 (the lower envelope over training
/// curves). The run must also appear among the [`ScalingPoint`]s, which give its `N`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CurvePoint {
    /// The run this point belongs to (matches [`ScalingPoint::run_id`]).
    pub run_id: String,
    /// Tokens trained on so far.
    pub tokens_seen: f64,
    /// Training FLOPs spent so far, as the trainer counts them. Kept for the record: the
    /// compute of a curve point is `k(N)·N·tokens_seen` under the data's counting
    /// ([`ComputeModel`]), which equals `flops_so_far` under [`ComputeCounting::Recorded`]
    /// and keeps curves and final points on one `C` under the other conventions.
    pub flops_so_far: f64,
    /// Loss at that point, nats per token.
    pub loss: f64,
}

/// Which parameters a scalinglab results file's `N` counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamCounting {
    /// `params_non_embedding` (Kaplan et al. 2020's N). Default.
    #[default]
    NonEmbedding,
    /// `params`, embeddings included (Hoffmann et al. 2022's N).
    Total,
}

impl ParamCounting {
    /// A results row's `N` under this counting.
    pub fn of(self, r: &RunRecord) -> u64 {
        match self {
            ParamCounting::NonEmbedding => r.params_non_embedding,
            ParamCounting::Total => r.params,
        }
    }
}

/// How training compute `C` is counted for a scalinglab results file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComputeCounting {
    /// `C = 6·N·D` with `N` as [`ParamCounting`] says (Chinchilla's convention). Default.
    #[default]
    SixND,
    /// The records' `flops` column: `6·N_non-emb + 6·n_layers·context·d_model` per token
    /// plus the unembedding matmul `6·d_model·vocab_size` (the training crate's count; Porian
    /// et al. 2024 count the unembedding).
    Recorded,
    /// The records' `flops` minus the unembedding FLOPs `6·d_model·vocab_size` per token
    /// (Kaplan et al. 2020's count). Errors if a record's `flops_per_token` matches neither
    /// formula, since the unembedding term cannot then be identified.
    RecordedWithoutUnembedding,
}

/// The counting conventions of a data set, in words, for reports.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Conventions {
    /// What `N` counts, e.g. "non-embedding parameters (params_non_embedding)".
    pub params: String,
    /// How `C` is counted, e.g. "C = 6·N·D".
    pub compute: String,
    /// True when `C = 6·N·D` exactly for every point, so the closed-form optimum of
    /// approach 3 applies.
    pub compute_is_6nd: bool,
}

/// Points, optional training curves and their conventions, ready for the fits.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScalingData {
    /// One point per `(N, D)` cell (the lowest loss when several runs share a cell).
    pub points: Vec<ScalingPoint>,
    /// Training-curve points (empty when none were given).
    pub curves: Vec<CurvePoint>,
    /// Counting conventions.
    pub conventions: Conventions,
    /// Where the data came from, e.g. "scalinglab results file runs/quickstart/results.csv".
    pub source: String,
    /// Runs dropped or merged while reading, and why.
    pub warnings: Vec<String>,
}

impl ScalingData {
    /// Points (and training curves) made in code, e.g. drawn from a known law, with
    /// `C = 6·N·D` for every point and `N` as given; `source` says where they came from.
    pub fn synthetic(points: Vec<ScalingPoint>, curves: Vec<CurvePoint>, source: &str) -> Self {
        ScalingData {
            points,
            curves,
            conventions: Conventions {
                params: "synthetic".into(),
                compute: "C = 6·N·D".into(),
                compute_is_6nd: true,
            },
            source: source.into(),
            warnings: Vec::new(),
        }
    }
}

fn positive(v: f64) -> bool {
    v.is_finite() && v > 0.0
}

/// Converts sweep records into [`ScalingData`].
///
/// Only runs with status `ok`, a finite positive eval loss and positive `N` and `D` are kept;
/// each dropped run gets a warning. When several runs share an `(N, D)` cell (seeds, a
/// learning-rate grid) the lowest eval loss is kept ("best of seeds and learning rates").
///
/// # Errors
///
/// No usable run; a kept run whose compute under `compute` is not finite and positive (naming the
/// run and value); [`ComputeCounting::RecordedWithoutUnembedding`] on a record whose
/// `flops_per_token` matches neither the with- nor the without-unembedding formula.
pub fn points_from_records(
    records: &[RunRecord],
    params: ParamCounting,
    compute: ComputeCounting,
) -> Result<ScalingData, AnalysisError> {
    let mut warnings = Vec::new();
    let mut points = Vec::new();
    for r in records {
        if r.status == RunStatus::Diverged {
            warnings.push(format!("run {} diverged; excluded", r.run_id));
            continue;
        }
        let n = params.of(r) as f64;
        let d = r.tokens as f64;
        if !positive(r.eval_loss) || n <= 0.0 || d <= 0.0 {
            warnings.push(format!(
                "run {} has eval_loss = {}, N = {n}, D = {d}; all must be finite and > 0; excluded",
                r.run_id, r.eval_loss
            ));
            continue;
        }
        let c = match compute {
            ComputeCounting::SixND => 6.0 * n * d,
            ComputeCounting::Recorded => r.flops,
            ComputeCounting::RecordedWithoutUnembedding => r.flops - unembedding_flops(r)? * d,
        };
        if !positive(c) {
            return Err(AnalysisError::invalid(
                format!("run {}: compute", r.run_id),
                format!("C = {c} under {compute:?} must be finite and > 0 (flops = {})", r.flops),
            ));
        }
        points.push(ScalingPoint { run_id: r.run_id.clone(), n, d, c, loss: r.eval_loss });
    }
    if points.is_empty() {
        return Err(AnalysisError::NoData(format!(
            "{} record(s), none with status ok, a finite positive eval loss and positive N and D",
            records.len()
        )));
    }
    let points = best_per_cell(points, &mut warnings);
    let params = match params {
        ParamCounting::NonEmbedding => {
            "non-embedding parameters (params_non_embedding; embeddings out)"
        }
        ParamCounting::Total => "all parameters (params; embeddings in)",
    };
    let compute = match compute {
        ComputeCounting::SixND => {
            "C = 6·N·D with N as counted here (unembedding FLOPs not counted separately)"
        }
        ComputeCounting::Recorded => {
            "C = the records' flops: 6·N_non-emb + attention + unembedding 6·d_model·V per token (unembedding in)"
        }
        ComputeCounting::RecordedWithoutUnembedding => {
            "C = the records' flops minus the unembedding 6·d_model·V per token (Kaplan's count; unembedding out)"
        }
    };
    let conventions = Conventions {
        params: params.into(),
        compute: compute.into(),
        compute_is_6nd: points.iter().all(is_6nd),
    };
    Ok(ScalingData {
        points,
        curves: Vec::new(),
        conventions,
        source: "scalinglab results".into(),
        warnings,
    })
}

fn is_6nd(p: &ScalingPoint) -> bool {
    (p.c / (6.0 * p.n * p.d) - 1.0).abs() < 1e-9
}

/// Unembedding FLOPs per token of a record, `6·d_model·vocab_size`, after checking that the
/// record's `flops_per_token` includes them (or returning 0 if it matches the count without).
fn unembedding_flops(r: &RunRecord) -> Result<f64, AnalysisError> {
    let (d, v) = (r.d_model as f64, r.vocab_size as f64);
    let kaplan =
        6.0 * r.params_non_embedding as f64 + 6.0 * r.n_layers as f64 * r.context as f64 * d;
    let with = kaplan + 6.0 * d * v;
    let close = |x: f64| (r.flops_per_token - x).abs() <= 1e-6 * x.abs().max(1.0);
    if close(with) {
        Ok(6.0 * d * v)
    } else if close(kaplan) {
        Ok(0.0)
    } else {
        Err(AnalysisError::invalid(
            format!("run {}: flops_per_token", r.run_id),
            format!(
                "flops_per_token = {} matches neither 6N + 6·L·T·d = {kaplan} nor that plus the unembedding \
                 6·d·V = {with}; cannot remove the unembedding FLOPs (use the recorded or the 6ND counting)",
                r.flops_per_token
            ),
        ))
    }
}

/// Keeps the lowest loss per `(N, D)` cell, with a warning saying how many runs were merged.
pub(crate) fn best_per_cell(
    points: Vec<ScalingPoint>,
    warnings: &mut Vec<String>,
) -> Vec<ScalingPoint> {
    let mut cells: BTreeMap<(u64, u64), ScalingPoint> = BTreeMap::new();
    let mut merged = 0;
    for p in points {
        let key = (p.n.to_bits(), p.d.to_bits());
        match cells.get_mut(&key) {
            Some(old) => {
                merged += 1;
                if p.loss < old.loss {
                    *old = p;
                }
            }
            None => {
                cells.insert(key, p);
            }
        }
    }
    if merged > 0 {
        warnings.push(format!(
            "{merged} run(s) shared an (N, D) cell with another; the lowest loss per cell was kept (best of \
             seeds/learning rates)"
        ));
    }
    let mut out: Vec<ScalingPoint> = cells.into_values().collect();
    out.sort_by(|a, b| a.n.total_cmp(&b.n).then(a.d.total_cmp(&b.d)));
    out
}

/// Column names for [`read_points_csv`]. Names are matched exactly, then ignoring case and
/// surrounding spaces.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CsvColumns {
    /// Parameter count column. Default `N`.
    pub n: String,
    /// Token count column. Default `D`. When absent from the file and `c` is set (or a
    /// column `C` exists), `D = C / (6N)`.
    pub d: Option<String>,
    /// Training compute column (FLOPs). Default none; when set, it is the compute `C` of each
    /// point, and `D = C / (6N)` unless the `d` column is also present.
    pub c: Option<String>,
    /// Loss column (nats per token). Default `loss`.
    pub loss: String,
    /// Optional run-name column.
    pub run_id: Option<String>,
}

impl Default for CsvColumns {
    /// `N`, `D`, no `C`, `loss`, no run-id column.
    fn default() -> Self {
        CsvColumns {
            n: "N".into(),
            d: Some("D".into()),
            c: None,
            loss: "loss".into(),
            run_id: None,
        }
    }
}

pub(super) fn csv_err(path: &Path, line: u64, message: String) -> AnalysisError {
    AnalysisError::Csv { path: path.to_path_buf(), line, message }
}

pub(super) fn find_column(headers: &csv::StringRecord, name: &str) -> Option<usize> {
    headers
        .iter()
        .position(|h| h == name)
        .or_else(|| headers.iter().position(|h| h.trim().eq_ignore_ascii_case(name.trim())))
}

pub(super) fn open_csv(
    path: &Path,
) -> Result<(csv::Reader<std::fs::File>, csv::StringRecord), AnalysisError> {
    let file = std::fs::File::open(path)
        .map_err(|e| AnalysisError::io("cannot open CSV file", path, e))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .comment(Some(b'#'))
        .flexible(false)
        .from_reader(file);
    let headers = reader
        .headers()
        .map_err(|e| csv_err(path, 1, format!("cannot read the header: {e}")))?
        .clone();
    if headers.is_empty() || headers.iter().all(|h| h.trim().is_empty()) {
        return Err(csv_err(path, 1, "the file has no header line".into()));
    }
    Ok((reader, headers))
}

pub(super) fn require_column(
    path: &Path,
    headers: &csv::StringRecord,
    role: &str,
    name: &str,
) -> Result<usize, AnalysisError> {
    find_column(headers, name).ok_or_else(|| {
        csv_err(
            path,
            1,
            format!(
                "no {role} column `{name}`; the header has: {}",
                headers.iter().map(|h| format!("`{h}`")).collect::<Vec<_>>().join(", ")
            ),
        )
    })
}

/// Parses field `idx` of `rec` as a finite, positive number.
pub(super) fn parse_positive(
    path: &Path,
    rec: &csv::StringRecord,
    idx: usize,
    name: &str,
) -> Result<f64, AnalysisError> {
    let line = rec.position().map(|p| p.line()).unwrap_or(0);
    let raw = rec.get(idx).unwrap_or("");
    let v: f64 = raw
        .trim()
        .parse()
        .map_err(|_| csv_err(path, line, format!("column `{name}` = `{raw}` is not a number")))?;
    if !positive(v) {
        return Err(csv_err(path, line, format!("column `{name}` = {v} must be finite and > 0")));
    }
    Ok(v)
}

/// Reads any CSV with a header into [`ScalingData`], with the column names of `cols`.
///
/// Lines starting with `#` are comments. Each row is one point; rows sharing an `(N, D)`
/// cell keep the lowest loss. The compute of a row is its `C` column when one is used, else
/// `6·N·D`; `D` comes from its column, or is `C / (6N)` when only `C` is given.
///
/// # Errors
///
/// Each error names the file, the 1-based line and the column: a missing column (listing the
/// header), a field that is not a number, a value that is not finite and positive (NaN, inf, 0,
/// negative), a row with the wrong number of fields, a file without rows.
pub fn read_points_csv(path: &Path, cols: &CsvColumns) -> Result<ScalingData, AnalysisError> {
    let (mut reader, headers) = open_csv(path)?;
    let n_idx = require_column(path, &headers, "N", &cols.n)?;
    let loss_idx = require_column(path, &headers, "loss", &cols.loss)?;
    let mut notes = Vec::new();
    let d_idx = cols
        .d
        .as_deref()
        .and_then(|name| find_column(&headers, name).map(|i| (i, name.to_string())));
    let c_idx = match &cols.c {
        Some(name) => Some((require_column(path, &headers, "C", name)?, name.clone())),
        None if d_idx.is_none() => find_column(&headers, "C").map(|i| {
            notes.push(format!(
                "no D column `{}`; using the column `C` as compute",
                cols.d.as_deref().unwrap_or("D")
            ));
            (i, "C".to_string())
        }),
        None => None,
    };
    if d_idx.is_none() && c_idx.is_none() {
        let d_name = cols.d.as_deref().unwrap_or("D");
        return Err(require_column(path, &headers, "D", d_name)
            .err()
            .unwrap_or_else(|| csv_err(path, 1, "neither a D nor a C column was named".into())));
    }
    let id_idx = match &cols.run_id {
        Some(name) => Some(require_column(path, &headers, "run id", name)?),
        None => None,
    };
    let mut points = Vec::new();
    let mut rec = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                let message = match e.kind() {
                    csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
                        format!("row has {len} fields but the header has {expected_len}")
                    }
                    _ => e.to_string(),
                };
                return Err(csv_err(path, line, message));
            }
        }
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        let n = parse_positive(path, &rec, n_idx, &cols.n)?;
        let loss = parse_positive(path, &rec, loss_idx, &cols.loss)?;
        let d = match &d_idx {
            Some((i, name)) => Some(parse_positive(path, &rec, *i, name)?),
            None => None,
        };
        let c = match &c_idx {
            Some((i, name)) => Some(parse_positive(path, &rec, *i, name)?),
            None => None,
        };
        let (d, c) = match (d, c) {
            (Some(d), Some(c)) => (d, c),
            (Some(d), None) => (d, 6.0 * n * d),
            (None, Some(c)) => (c / (6.0 * n), c),
            (None, None) => unreachable_columns(path)?,
        };
        let run_id = match id_idx {
            Some(i) => rec.get(i).unwrap_or("").trim().to_string(),
            None => format!("line{line}"),
        };
        points.push(ScalingPoint { run_id, n, d, c, loss });
    }
    if points.is_empty() {
        return Err(csv_err(path, 0, "the file has a header but no data rows".into()));
    }
    let mut warnings = notes;
    let points = best_per_cell(points, &mut warnings);
    let compute = match (&d_idx, &c_idx) {
        (Some(_), Some((_, c))) => format!("C = the column `{c}` as given (D from its own column)"),
        (None, Some((_, c))) => format!("C = the column `{c}` as given; D = C / (6N)"),
        _ => "C = 6·N·D".to_string(),
    };
    let conventions = Conventions {
        params: format!("as given in the column `{}`", cols.n),
        compute,
        compute_is_6nd: points.iter().all(is_6nd),
    };
    Ok(ScalingData {
        points,
        curves: Vec::new(),
        conventions,
        source: "generic CSV".into(),
        warnings,
    })
}

fn unreachable_columns(path: &Path) -> Result<(f64, f64), AnalysisError> {
    Err(csv_err(path, 0, "neither a D nor a C column is available".into()))
}

/// Reads training curves from a CSV with columns `run_id`, `tokens_seen`, `flops_so_far`,
/// `loss` (any order, extra columns ignored, `#` comments). Every value must be a finite
/// positive number; [`read_training_curves`] is the lenient reader for a trainer's
/// `curves.csv`.
///
/// # Errors
///
/// An unreadable file, a missing column, a malformed row, or a value that is not a finite
/// positive number; each error names the file, line and column, as [`read_points_csv`] does.
pub fn read_curves_csv(path: &Path) -> Result<Vec<CurvePoint>, AnalysisError> {
    let curves = read_training_curves(path)?;
    match curves.skipped.first() {
        Some((line, message)) => Err(csv_err(path, *line, message.clone())),
        None => Ok(curves.points),
    }
}

/// Training curves as a trainer writes them, with the rows that cannot be used set aside.
#[derive(Clone, Debug)]
pub struct TrainingCurves {
    /// Usable points.
    pub points: Vec<CurvePoint>,
    /// Each unusable row set aside: its 1-based line and why (column and value).
    pub skipped: Vec<(u64, String)>,
}

impl TrainingCurves {
    /// The skipped rows in one sentence for a report, e.g. "3 rows skipped (the first: …)";
    /// `None` when every row was used.
    pub fn skipped_summary(&self) -> Option<String> {
        let (line, why) = self.skipped.first()?;
        Some(format!(
            "{} curve row(s) skipped: not a finite positive tokens_seen, flops_so_far and loss (e.g. the evaluation \
             before the first step, or a diverged run); the first: line {line}: {why}",
            self.skipped.len()
        ))
    }
}

/// Reads training curves (`run_id`, `tokens_seen`, `flops_so_far`, `loss`; the scalinglab
/// trainer's `curves.csv` also has `step`, `train_loss`, `eval_loss`, which are ignored —
/// `loss` is the eval loss) and sets aside, rather than failing on, rows whose
/// `tokens_seen`, `flops_so_far` or `loss` is empty, zero, negative or not finite: the
/// evaluation at step 0 has seen no tokens, and a diverged run's loss is NaN.
///
/// # Errors
///
/// An unreadable file, a missing column (listing the header), a malformed row, or a field that is
/// not a number at all (file, line and column).
pub fn read_training_curves(path: &Path) -> Result<TrainingCurves, AnalysisError> {
    let (mut reader, headers) = open_csv(path)?;
    let id = require_column(path, &headers, "run id", "run_id")?;
    let tok = require_column(path, &headers, "tokens", "tokens_seen")?;
    let fl = require_column(path, &headers, "FLOPs", "flops_so_far")?;
    let lo = require_column(path, &headers, "loss", "loss")?;
    let mut out = TrainingCurves { points: Vec::new(), skipped: Vec::new() };
    let mut rec = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                return Err(csv_err(
                    path,
                    e.position().map(|p| p.line()).unwrap_or(0),
                    e.to_string(),
                ));
            }
        }
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        let mut values = [0.0; 3];
        let mut bad: Option<String> = None;
        for (slot, (idx, name)) in
            values.iter_mut().zip([(tok, "tokens_seen"), (fl, "flops_so_far"), (lo, "loss")])
        {
            let raw = rec.get(idx).unwrap_or("").trim();
            if raw.is_empty() {
                bad.get_or_insert_with(|| format!("column `{name}` is empty"));
                continue;
            }
            let v: f64 = raw.parse().map_err(|_| {
                csv_err(path, line, format!("column `{name}` = `{raw}` is not a number"))
            })?;
            if !positive(v) {
                bad.get_or_insert_with(|| format!("column `{name}` = {v} must be finite and > 0"));
            }
            *slot = v;
        }
        match bad {
            Some(why) => out.skipped.push((line, why)),
            None => out.points.push(CurvePoint {
                run_id: rec.get(id).unwrap_or("").trim().to_string(),
                tokens_seen: values[0],
                flops_so_far: values[1],
                loss: values[2],
            }),
        }
    }
    Ok(out)
}

/// Whether `path` is a scalinglab results file: its header is [`csv_header`] or contains the
/// columns `run_id`, `params_non_embedding`, `tokens`, `eval_loss` and `status`.
///
/// # Errors
///
/// [`AnalysisError::Io`] when the file cannot be opened; [`AnalysisError::Csv`] when its
/// header cannot be read or is empty.
pub fn is_results_csv(path: &Path) -> Result<bool, AnalysisError> {
    let (_, headers) = open_csv(path)?;
    let joined = headers.iter().collect::<Vec<_>>().join(",");
    if joined == csv_header() {
        return Ok(true);
    }
    Ok(["run_id", "params_non_embedding", "tokens", "eval_loss", "status"]
        .iter()
        .all(|c| headers.iter().any(|h| h == *c)))
}

/// Validates points for a fit: every field finite and positive, naming the index and run.
pub(crate) fn validate_points(context: &str, points: &[ScalingPoint]) -> Result<(), AnalysisError> {
    for (i, p) in points.iter().enumerate() {
        for (name, v) in [("N", p.n), ("D", p.d), ("C", p.c), ("loss", p.loss)] {
            if !positive(v) {
                return Err(AnalysisError::invalid(
                    format!("{context}: point {i} (run {})", p.run_id),
                    format!("{name} = {v} must be finite and > 0"),
                ));
            }
        }
    }
    Ok(())
}

/// Number of distinct values.
pub(crate) fn distinct(values: impl Iterator<Item = f64>) -> usize {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    v.dedup();
    v.len()
}

/// How compute relates to `N` and `D`: `C = k(N)·N·D`.
///
/// `k` is 6 under the `6ND` convention. Under a recorded FLOP count it varies with `N`
/// (attention and unembedding FLOPs weigh more in small models): `ln k` is then the mean of
/// `ln(C/(N·D))` over the runs of each model size, interpolated linearly in `ln N` between
/// model sizes and held constant beyond the smallest and the largest.
#[derive(Clone, Debug, PartialEq)]
pub struct ComputeModel {
    ln_n: Vec<f64>,
    ln_k: Vec<f64>,
}

impl ComputeModel {
    /// `C = 6·N·D`.
    pub fn six_nd() -> Self {
        ComputeModel { ln_n: vec![0.0], ln_k: vec![6f64.ln()] }
    }

    /// The model implied by `points` (see the type's docs). Points must be valid.
    pub fn from_points(points: &[ScalingPoint]) -> Self {
        if points.iter().all(is_6nd) {
            return Self::six_nd();
        }
        let mut by_n: BTreeMap<u64, (f64, f64, usize)> = BTreeMap::new();
        for p in points {
            let e = by_n.entry(p.n.to_bits()).or_insert((p.n.ln(), 0.0, 0));
            e.1 += (p.c / (p.n * p.d)).ln();
            e.2 += 1;
        }
        let mut pairs: Vec<(f64, f64)> =
            by_n.into_values().map(|(ln_n, s, k)| (ln_n, s / k as f64)).collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        if pairs.is_empty() {
            return Self::six_nd();
        }
        ComputeModel {
            ln_n: pairs.iter().map(|p| p.0).collect(),
            ln_k: pairs.iter().map(|p| p.1).collect(),
        }
    }

    /// `k(N) = C / (N·D)`.
    pub fn k(&self, n: f64) -> f64 {
        let u = n.ln();
        let (x, y) = (&self.ln_n, &self.ln_k);
        if x.len() == 1 || u <= x[0] {
            return y[0].exp();
        }
        let last = x.len() - 1;
        if u >= x[last] {
            return y[last].exp();
        }
        let j = x.partition_point(|v| *v <= u).clamp(1, last);
        let t = (u - x[j - 1]) / (x[j] - x[j - 1]);
        (y[j - 1] + t * (y[j] - y[j - 1])).exp()
    }

    /// Tokens `D = C / (k(N)·N)` that a model of size `n` trains on with compute `c`.
    pub fn d_for(&self, n: f64, c: f64) -> f64 {
        c / (self.k(n) * n)
    }

    /// The constant `k` when it does not depend on `N` (e.g. 6), else `None`.
    pub fn constant(&self) -> Option<f64> {
        let k0 = self.ln_k[0];
        self.ln_k.iter().all(|k| (k - k0).abs() < 1e-12).then(|| k0.exp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir()
            .join(format!("scalinglab-frontier-data-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn generic_csv_with_d_or_c_and_clear_errors() {
        let dir = temp_dir("csv");
        let p = dir.join("a.csv");
        std::fs::write(&p, "# published data\nN,D,loss\n1e6,2e7,3.5\n1e6,2e7,3.4\n2e6,2e7,3.2\n")
            .unwrap();
        let data = read_points_csv(&p, &CsvColumns::default()).unwrap();
        assert_eq!(data.points.len(), 2, "duplicate cell merged");
        assert_eq!(data.points[0].loss, 3.4);
        assert_eq!(data.points[0].c, 6.0 * 1e6 * 2e7);
        assert!(data.conventions.compute_is_6nd);
        assert!(data.warnings[0].contains("lowest loss"));

        // C instead of D (custom names, case-insensitive match).
        std::fs::write(&p, "params,flops,Eval Loss\n1e6,1.2e14,3.5\n").unwrap();
        let cols = CsvColumns {
            n: "params".into(),
            c: Some("FLOPS".into()),
            loss: "eval loss".into(),
            ..Default::default()
        };
        let data = read_points_csv(&p, &cols).unwrap();
        assert!((data.points[0].d - 2e7).abs() < 1e-6);
        assert!(data.conventions.compute.contains("C / (6N)"));

        let err = |text: &str, cols: &CsvColumns| {
            std::fs::write(&p, text).unwrap();
            read_points_csv(&p, cols).unwrap_err().to_string()
        };
        let m = err("N,D,loss\n1e6,2e7,3.5\n2e6,2e7,nan\n", &CsvColumns::default());
        assert!(
            m.contains("a.csv")
                && m.contains("line 3")
                && m.contains("`loss`")
                && m.contains("NaN"),
            "{m}"
        );
        let m = err("N,D,loss\n1e6,abc,3.5\n", &CsvColumns::default());
        assert!(m.contains("line 2") && m.contains("`D` = `abc`"), "{m}");
        let m = err("N,D,loss\n1e6,-1,3.5\n", &CsvColumns::default());
        assert!(m.contains("`D` = -1"), "{m}");
        let m = err("N,tokens,loss\n1e6,2e7,3.5\n", &CsvColumns::default());
        assert!(m.contains("no D column `D`") && m.contains("`tokens`"), "{m}");
        let m = err("N,D\n1e6,2e7\n", &CsvColumns::default());
        assert!(m.contains("no loss column"), "{m}");
        let m = err("N,D,loss\n1e6,2e7\n", &CsvColumns::default());
        assert!(m.contains("line 2") && m.contains("fields"), "{m}");
        let m = err("N,D,loss\n", &CsvColumns::default());
        assert!(m.contains("no data rows"), "{m}");
        let m = err("N,D,loss\n1e6,2e7,inf\n", &CsvColumns::default());
        assert!(m.contains("inf"), "{m}");
    }

    #[test]
    fn compute_model_interpolates_k_in_log_n() {
        let pts = vec![
            ScalingPoint { run_id: "a".into(), n: 1e4, d: 1e6, c: 12.0 * 1e4 * 1e6, loss: 3.0 },
            ScalingPoint { run_id: "b".into(), n: 1e6, d: 1e6, c: 8.0 * 1e6 * 1e6, loss: 2.0 },
        ];
        let m = ComputeModel::from_points(&pts);
        assert!((m.k(1e4) - 12.0).abs() < 1e-9 && (m.k(1e6) - 8.0).abs() < 1e-9);
        assert!((m.k(1e5) - (12f64 * 8.0).sqrt()).abs() < 1e-9, "geometric midpoint");
        assert!((m.k(1e2) - 12.0).abs() < 1e-9 && (m.k(1e9) - 8.0).abs() < 1e-9);
        assert_eq!(m.constant(), None);
        assert_eq!(ComputeModel::six_nd().constant(), Some(6.0));
        assert!((ComputeModel::six_nd().d_for(1e6, 6e12) - 1e6).abs() < 1e-6);
    }
}
