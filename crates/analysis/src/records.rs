//! The tidy results schema: one CSV row per training run.
//!
//! The training crate appends a [`RunRecord`] through [`ResultsWriter`] as soon as a run
//! finishes (the file is flushed after every row, so a killed sweep keeps every finished run);
//! the analysis reads the file back with [`read_results`]. Columns are matched by header name,
//! so their order does not matter and unknown extra columns are ignored.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::AnalysisError;

/// One training run of a sweep.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunRecord {
    /// Unique run name, e.g. `"w64_d25600"`.
    pub run_id: String,
    /// Architecture family, e.g. `"gpt2"`.
    pub arch: String,
    /// Residual stream width.
    pub d_model: usize,
    /// Number of transformer blocks.
    pub n_layers: usize,
    /// Attention heads per block.
    pub n_heads: usize,
    /// Context length in tokens.
    pub context: usize,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// All parameters, embeddings included.
    pub params: u64,
    /// Parameters without token/position embeddings (Kaplan's `N`).
    pub params_non_embedding: u64,
    /// `D`: training tokens seen (predicted targets).
    pub tokens: u64,
    /// Optimiser steps.
    pub steps: u64,
    /// Sequences per batch.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Training FLOPs per token (`6N` + attention).
    pub flops_per_token: f64,
    /// Total training FLOPs = `flops_per_token * tokens`.
    pub flops: f64,
    /// Final training loss, nats/token.
    pub train_loss: f64,
    /// Held-out loss, nats/token.
    pub eval_loss: f64,
    /// Wall-clock training time in seconds.
    pub wall_seconds: f64,
    /// Device description, e.g. `"cpu"` or `"cuda:0"`.
    pub device: String,
    /// Random seed.
    pub seed: u64,
    /// Whether the run finished normally.
    pub status: RunStatus,
    /// Passes over the run's unique training tokens (`tokens / epochs` unique tokens, each seen
    /// `epochs` times); 1 unless the config repeats data (`train.epochs`, `sweep.epochs`).
    /// Files written before this column existed read as 1.
    #[serde(default = "one_epoch")]
    pub epochs: u32,
}

fn one_epoch() -> u32 {
    1
}

impl RunRecord {
    /// Unique training tokens: `tokens / epochs`.
    pub fn unique_tokens(&self) -> u64 {
        self.tokens / u64::from(self.epochs.max(1))
    }
}

/// Outcome of a training run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Finished normally; its losses are usable.
    Ok,
    /// The loss blew up (NaN/inf or exploded); excluded from fits.
    Diverged,
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunStatus::Ok => "ok",
            RunStatus::Diverged => "diverged",
        })
    }
}

/// The CSV header line that [`ResultsWriter`] writes (without the trailing newline).
pub fn csv_header() -> String {
    // Derived from the struct itself so it can never drift from the schema.
    let dummy = RunRecord {
        run_id: String::new(),
        arch: String::new(),
        d_model: 0,
        n_layers: 0,
        n_heads: 0,
        context: 0,
        vocab_size: 0,
        params: 0,
        params_non_embedding: 0,
        tokens: 0,
        steps: 0,
        batch_size: 0,
        lr: 0.0,
        flops_per_token: 0.0,
        flops: 0.0,
        train_loss: 0.0,
        eval_loss: 0.0,
        wall_seconds: 0.0,
        device: String::new(),
        seed: 0,
        status: RunStatus::Ok,
        epochs: 1,
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    // Serialising into memory cannot fail for this plain struct.
    if w.serialize(&dummy).is_err() {
        return String::new();
    }
    let bytes = w.into_inner().unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    text.lines().next().unwrap_or_default().to_string()
}

/// The header of results files written before the `epochs` column existed: [`csv_header`]
/// without its last column. [`ResultsWriter::open`] upgrades such a file in place (atomically).
fn legacy_header() -> String {
    let header = csv_header();
    header.strip_suffix(",epochs").unwrap_or(&header).to_string()
}

/// Appends [`RunRecord`]s to a CSV file, writing the header if the file is new or empty and
/// flushing after each row, so a killed sweep keeps every finished run.
///
/// Opening an existing, non-empty file checks that its header matches the current schema, so
/// rows of two different schemas never end up in one file.
pub struct ResultsWriter {
    path: PathBuf,
    writer: csv::Writer<File>,
}

impl ResultsWriter {
    /// Opens (creating if needed) `path` for appending. Parent directories are created.
    ///
    /// # Errors
    ///
    /// [`AnalysisError::Io`] when the parent directory or the file cannot be created, opened,
    /// read or written; [`AnalysisError::Csv`] when an existing, non-empty file has a header
    /// other than [`csv_header`] (another schema: write to a new file instead).
    pub fn open(path: &Path) -> Result<Self, AnalysisError> {
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| {
                AnalysisError::io("cannot create directory for results file", parent, e)
            })?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| AnalysisError::io("cannot open results file", path, e))?;
        let len = file
            .metadata()
            .map_err(|e| AnalysisError::io("cannot stat results file", path, e))?
            .len();
        let expected = csv_header();
        let is_new = len == 0;
        if !is_new {
            let mut text = String::new();
            file.seek(SeekFrom::Start(0))
                .and_then(|_| file.read_to_string(&mut text))
                .map_err(|e| AnalysisError::io("cannot read results file", path, e))?;
            let first = text.lines().next().unwrap_or_default().trim_end_matches('\r');
            if first == legacy_header() {
                // Written before the `epochs` column: every run was one epoch. Rewrite the
                // file with the column (through a temporary file and a rename, so a kill
                // leaves the old file or the new one), then append to it.
                drop(file);
                upgrade_legacy(path)?;
                return Self::open(path);
            }
            if first != expected {
                return Err(AnalysisError::Csv {
                    path: path.to_path_buf(),
                    line: 1,
                    message: format!(
                        "existing header does not match the RunRecord schema; expected `{expected}`, found `{first}` \
                         (write to a new file instead)"
                    ),
                });
            }
            // A process killed mid-row leaves a last line without its newline. A row is
            // written whole with its newline, so such a line was never recorded: cut it off
            // (its run is trained again) rather than keep a torn row in the file. A complete
            // row that merely lacks the newline (a hand-edited file) keeps it.
            if !text.ends_with('\n') {
                let start = text.rfind('\n').map_or(0, |i| i + 1);
                if start > 0 && parse_row(&text[start..], &expected).is_some() {
                    file.write_all(b"\n")
                        .map_err(|e| AnalysisError::io("cannot write results file", path, e))?;
                } else if start > 0 {
                    file.set_len(start as u64)
                        .map_err(|e| AnalysisError::io("cannot repair results file", path, e))?;
                }
            }
        }
        let writer = csv::WriterBuilder::new().has_headers(is_new).from_writer(file);
        Ok(ResultsWriter { path: path.to_path_buf(), writer })
    }

    /// Appends one row and flushes it to the file.
    ///
    /// # Errors
    ///
    /// [`AnalysisError::Csv`] when the row cannot be serialised (naming the run),
    /// [`AnalysisError::Io`] when the flush fails.
    pub fn append(&mut self, r: &RunRecord) -> Result<(), AnalysisError> {
        self.writer.serialize(r).map_err(|e| AnalysisError::Csv {
            path: self.path.clone(),
            line: 0,
            message: format!("cannot write run `{}`: {e}", r.run_id),
        })?;
        self.writer
            .flush()
            .map_err(|e| AnalysisError::io("cannot flush results file", &self.path, e))?;
        Ok(())
    }

    /// The file this writer appends to.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Rewrites a results file of the [`legacy_header`] schema with the `epochs` column (1 on
/// every row), atomically. A torn last row is dropped, as [`ResultsWriter::open`] would.
fn upgrade_legacy(path: &Path) -> Result<(), AnalysisError> {
    let records = read_results(path)?;
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in &records {
        w.serialize(r).map_err(|e| AnalysisError::Csv {
            path: path.to_path_buf(),
            line: 0,
            message: format!("cannot write run `{}`: {e}", r.run_id),
        })?;
    }
    let bytes = w.into_inner().map_err(|e| AnalysisError::Csv {
        path: path.to_path_buf(),
        line: 0,
        message: e.to_string(),
    })?;
    let bytes = if records.is_empty() { format!("{}\n", csv_header()).into_bytes() } else { bytes };
    crate::atomic::write_atomic(path, &bytes)
        .map_err(|(p, e)| AnalysisError::io("cannot write the upgraded results file", &p, e))
}

/// Reads every row of a results CSV written by [`ResultsWriter`].
///
/// An empty file gives an empty vector.
///
/// # Errors
///
/// [`AnalysisError::Io`] when the file cannot be opened; [`AnalysisError::Csv`] for an
/// unreadable header or a malformed row, naming the file, the 1-based line and the offending
/// field.
pub fn read_results(path: &Path) -> Result<Vec<RunRecord>, AnalysisError> {
    let mut text = String::new();
    File::open(path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(|e| AnalysisError::io("cannot open results file", path, e))?;
    // A last line without its newline that is not a whole row is a row being written (or torn
    // by a kill): it was never recorded, so it is not read. [`ResultsWriter::open`] cuts it off.
    if !text.ends_with('\n')
        && let Some(start) = text.rfind('\n').map(|i| i + 1)
    {
        let header = text.lines().next().unwrap_or_default().trim_end_matches('\r');
        if parse_row(&text[start..], header).is_none() {
            text.truncate(start);
        }
    }
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(csv_error(path, &e, None)),
    };
    let mut out = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_error(path, &e, None)),
        }
        let row: RunRecord = record
            .deserialize(Some(&headers))
            .map_err(|e| csv_error(path, &e, record.position().map(|p| p.line())))?;
        out.push(row);
    }
    Ok(out)
}

/// One data line parsed against `header`, or `None` when it is not a whole, valid row.
fn parse_row(line: &str, header: &str) -> Option<RunRecord> {
    let text = format!("{header}\n{line}\n");
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
    let headers = reader.headers().ok()?.clone();
    let mut record = csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(true) => record.deserialize(Some(&headers)).ok(),
        _ => None,
    }
}

fn csv_error(path: &Path, e: &csv::Error, line_hint: Option<u64>) -> AnalysisError {
    let line = line_hint.or_else(|| e.position().map(|p| p.line())).unwrap_or(0);
    let message = match e.kind() {
        csv::ErrorKind::Deserialize { err, .. } => {
            let field = err.field().map(|f| format!("field {}: ", f + 1)).unwrap_or_default();
            format!("{field}{err}")
        }
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("row has {len} fields but the header has {expected_len}")
        }
        _ => e.to_string(),
    };
    AnalysisError::Csv { path: path.to_path_buf(), line, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, loss: f64, status: RunStatus) -> RunRecord {
        RunRecord {
            run_id: id.into(),
            arch: "gpt2".into(),
            d_model: 64,
            n_layers: 2,
            n_heads: 4,
            context: 50,
            vocab_size: 1000,
            params: 230_000,
            params_non_embedding: 99_000,
            tokens: 25_600,
            steps: 100,
            batch_size: 100,
            lr: 3e-3,
            flops_per_token: 6.0 * 99_000.0 + 12.0 * 2.0 * 50.0 * 64.0,
            flops: (6.0 * 99_000.0 + 12.0 * 2.0 * 50.0 * 64.0) * 25_600.0,
            train_loss: loss + 0.01,
            eval_loss: loss,
            wall_seconds: 12.5,
            device: "cpu, \"quoted\"".into(),
            seed: 7,
            status,
            epochs: 1,
        }
    }

    fn temp_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir()
            .join(format!("scalinglab-analysis-records-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("results.csv")
    }

    #[test]
    fn round_trip_across_two_opens_writes_header_once() {
        let path = temp_path("roundtrip");
        let a = record("w64_d25600", 3.21, RunStatus::Ok);
        let mut b = record("w128_d25600", f64::NAN, RunStatus::Diverged);
        b.train_loss = f64::INFINITY;
        {
            let mut w = ResultsWriter::open(&path).unwrap();
            w.append(&a).unwrap();
        }
        {
            let mut w = ResultsWriter::open(&path).unwrap();
            w.append(&b).unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.matches("run_id").count(), 1, "header written once:\n{text}");
        assert_eq!(text.lines().count(), 3);
        assert_eq!(text.lines().next().unwrap(), csv_header());

        let back = read_results(&path).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0], a);
        // NaN != NaN, so compare field-wise for the diverged row.
        assert_eq!(back[1].run_id, b.run_id);
        assert_eq!(back[1].status, RunStatus::Diverged);
        assert!(back[1].eval_loss.is_nan());
        assert_eq!(back[1].train_loss, f64::INFINITY);
        assert_eq!(back[1].device, b.device);
    }

    #[test]
    fn a_file_without_the_epochs_column_reads_as_one_epoch_and_is_upgraded_on_append() {
        let path = temp_path("legacy");
        let a = record("w64_d25600", 3.21, RunStatus::Ok);
        // The file as a sweep before the `epochs` column wrote it.
        let current = {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.serialize(&a).unwrap();
            String::from_utf8(w.into_inner().unwrap()).unwrap()
        };
        let legacy: String =
            current.lines().map(|l| format!("{}\n", &l[..l.rfind(',').unwrap()])).collect();
        assert_eq!(legacy.lines().next().unwrap(), legacy_header());
        assert!(!legacy.contains("epochs"));
        std::fs::write(&path, &legacy).unwrap();
        assert_eq!(read_results(&path).unwrap(), vec![a.clone()], "epochs defaults to 1");

        let mut b = record("w128_d25600", 3.0, RunStatus::Ok);
        b.epochs = 4;
        {
            let mut w = ResultsWriter::open(&path).unwrap();
            w.append(&b).unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().next().unwrap(), csv_header(), "upgraded header:\n{text}");
        assert_eq!(read_results(&path).unwrap(), vec![a, b.clone()]);
        assert_eq!(b.unique_tokens(), 25_600 / 4);
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "no temporary file left behind");
    }

    #[test]
    fn malformed_row_names_file_and_line() {
        let path = temp_path("malformed");
        {
            let mut w = ResultsWriter::open(&path).unwrap();
            w.append(&record("good", 3.0, RunStatus::Ok)).unwrap();
            w.append(&record("bad", 3.0, RunStatus::Ok)).unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let broken = text.replacen("\nbad,gpt2,64,", "\nbad,gpt2,sixty-four,", 1);
        assert_ne!(broken, text);
        std::fs::write(&path, broken).unwrap();
        let err = read_results(&path).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
        assert!(msg.contains("d_model") || msg.contains("field 3"), "{msg}");

        // Wrong number of fields is also reported with the line.
        std::fs::write(&path, format!("{}\nonly,three,fields\n", csv_header())).unwrap();
        let msg = read_results(&path).unwrap_err().to_string();
        assert!(msg.contains("line 2") && msg.contains("fields"), "{msg}");

        // Missing file.
        let missing = path.with_file_name("nope.csv");
        let msg = read_results(&missing).unwrap_err().to_string();
        assert!(msg.contains("nope.csv"), "{msg}");
    }

    #[test]
    fn empty_file_reads_as_no_runs_and_mismatched_header_is_rejected() {
        let path = temp_path("empty");
        std::fs::write(&path, "").unwrap();
        assert!(read_results(&path).unwrap().is_empty());
        // An empty existing file gets a header on first append.
        {
            let mut w = ResultsWriter::open(&path).unwrap();
            w.append(&record("x", 3.0, RunStatus::Ok)).unwrap();
        }
        assert_eq!(read_results(&path).unwrap().len(), 1);

        std::fs::write(&path, "a,b,c\n1,2,3\n").unwrap();
        let msg = ResultsWriter::open(&path).err().unwrap().to_string();
        assert!(msg.contains("header"), "{msg}");
    }

    #[test]
    fn a_row_torn_by_a_kill_is_not_read_and_is_cut_off_before_the_next_append() {
        let path = temp_path("torn");
        {
            let mut w = ResultsWriter::open(&path).unwrap();
            w.append(&record("a", 3.0, RunStatus::Ok)).unwrap();
        }
        let whole = std::fs::read_to_string(&path).unwrap();
        let row = whole.lines().nth(1).unwrap().to_string();
        // Killed at every byte of a second row: the file reads as the first row alone, and
        // the next append leaves exactly two whole rows.
        for cut in 1..row.len() {
            let torn = format!("{whole}{}", &row[..cut].replacen('a', "t", 1));
            std::fs::write(&path, &torn).unwrap();
            let ids: Vec<String> =
                read_results(&path).unwrap().into_iter().map(|r| r.run_id).collect();
            assert_eq!(ids, ["a"], "cut at byte {cut}");
            {
                let mut w = ResultsWriter::open(&path).unwrap();
                w.append(&record("b", 3.0, RunStatus::Ok)).unwrap();
            }
            let ids: Vec<String> =
                read_results(&path).unwrap().into_iter().map(|r| r.run_id).collect();
            assert_eq!(ids, ["a", "b"], "cut at byte {cut}");
        }
        // A whole row that only lacks its newline (a hand-edited file) is kept.
        std::fs::write(&path, whole.trim_end()).unwrap();
        assert_eq!(read_results(&path).unwrap().len(), 1);
        {
            let mut w = ResultsWriter::open(&path).unwrap();
            w.append(&record("b", 3.0, RunStatus::Ok)).unwrap();
        }
        assert_eq!(read_results(&path).unwrap().len(), 2);
        // A malformed row in the middle is still an error naming its line.
        std::fs::write(&path, format!("{whole}x,y\n{row}\n")).unwrap();
        let msg = read_results(&path).unwrap_err().to_string();
        assert!(msg.contains("line 3"), "{msg}");
    }
}
