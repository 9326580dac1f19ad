//! Reading the inputs of `scalinglab stats`: token shards, point clouds, per-position losses
//! and loss tables for the collapse test.
//!
//! * Token shard: raw little-endian `u16` or `u32` ids (`.bin`, width an option), or a text
//!   file of whitespace-separated integer ids. Every id must be `< vocab`.
//! * Points: CSV (comma-separated numbers, one point per row, an optional header row is
//!   detected and skipped), or raw little-endian `f32` (`.bin`, `.f32`) with a given
//!   dimension.
//! * Per-position losses: CSV with one column (the loss at context length `n` on line `n`,
//!   counting from 0) or two columns `position,loss` (positions `0..n` in any order); an
//!   optional header row.
//! * Loss table for the collapse: CSV `tokens,position,loss` (optional header), one curve per
//!   distinct `tokens` value, positions `0..n` of each curve.

use std::path::{Path, PathBuf};

use crate::error::AnalysisError;
use crate::stats::predict::LossCurve;

/// Width of the ids in a binary token shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenWidth {
    /// Little-endian `u16` (vocabularies up to 65 536).
    U16,
    /// Little-endian `u32`.
    U32,
}

impl TokenWidth {
    /// From a bit count: 16 or 32.
    ///
    /// # Errors
    ///
    /// [`AnalysisError::InvalidInput`] for any other bit count.
    pub fn from_bits(bits: u32) -> Result<TokenWidth, AnalysisError> {
        match bits {
            16 => Ok(TokenWidth::U16),
            32 => Ok(TokenWidth::U32),
            b => Err(AnalysisError::invalid("token width", format!("{b} bits: expected 16 or 32"))),
        }
    }

    /// Bytes per id.
    pub fn bytes(self) -> usize {
        match self {
            TokenWidth::U16 => 2,
            TokenWidth::U32 => 4,
        }
    }
}

/// How a token file is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenFormat {
    /// Binary when the extension is `bin`, `u16` or `u32`, else text.
    Auto,
    /// Raw little-endian ids.
    Binary,
    /// Whitespace-separated decimal ids.
    Text,
}

/// How a point file is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PointsFormat {
    /// Binary `f32` when the extension is `bin` or `f32`, else CSV.
    Auto,
    /// Comma-separated values.
    Csv,
    /// Raw little-endian `f32`, row-major.
    F32,
}

fn ext_is(path: &Path, exts: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, AnalysisError> {
    std::fs::read(path).map_err(|e| AnalysisError::io("cannot read", path, e))
}

fn invalid_file(path: &Path, message: impl Into<String>) -> AnalysisError {
    AnalysisError::invalid(path.display().to_string(), message)
}

/// Reads a token shard (see the module documentation): the ids, each `< vocab`.
///
/// # Errors
///
/// [`AnalysisError::Io`] when the file cannot be read; [`AnalysisError::InvalidInput`] naming
/// the file for `vocab = 0`, a binary file that is not a whole number of ids, a text file that
/// is not UTF-8 or holds a word that is not an id, an id `>= vocab` (with its position in a
/// binary file or its line in a text file), or a file without tokens.
pub fn read_tokens(
    path: &Path,
    format: TokenFormat,
    width: TokenWidth,
    vocab: usize,
) -> Result<Vec<u32>, AnalysisError> {
    if vocab == 0 {
        return Err(invalid_file(path, "vocab = 0: the vocabulary size must be at least 1"));
    }
    let binary = match format {
        TokenFormat::Auto => ext_is(path, &["bin", "u16", "u32"]),
        TokenFormat::Binary => true,
        TokenFormat::Text => false,
    };
    let bytes = read_bytes(path)?;
    let tokens: Vec<u32> = if binary {
        let w = width.bytes();
        if bytes.len() % w != 0 {
            return Err(invalid_file(
                path,
                format!(
                    "{} bytes is not a whole number of {}-bit ids (wrong --token-width?)",
                    bytes.len(),
                    8 * w
                ),
            ));
        }
        match width {
            TokenWidth::U16 => {
                bytes.chunks_exact(2).map(|c| u32::from(u16::from_le_bytes([c[0], c[1]]))).collect()
            }
            TokenWidth::U32 => bytes
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        }
    } else {
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            invalid_file(path, format!("not UTF-8 text ({e}); for binary ids use a .bin file"))
        })?;
        let mut out = Vec::new();
        for (ln, line) in text.lines().enumerate() {
            for word in line.split_whitespace() {
                let id: u32 = word.parse().map_err(|_| {
                    invalid_file(
                        path,
                        format!("line {}: {word:?} is not a non-negative integer token id", ln + 1),
                    )
                })?;
                if id as usize >= vocab {
                    return Err(invalid_file(
                        path,
                        format!("line {}: token id {id} is >= vocab = {vocab}", ln + 1),
                    ));
                }
                out.push(id);
            }
        }
        out
    };
    if let Some(i) = tokens.iter().position(|&t| t as usize >= vocab) {
        return Err(invalid_file(
            path,
            format!(
                "token {i} has id {} >= vocab = {vocab} (wrong --vocab or --token-width?)",
                tokens[i]
            ),
        ));
    }
    if tokens.is_empty() {
        return Err(invalid_file(path, "the file holds no tokens"));
    }
    Ok(tokens)
}

/// Writes tokens as raw little-endian ids of `width` (a helper for tests and examples).
///
/// # Errors
///
/// [`AnalysisError::InvalidInput`] when an id does not fit the width (naming its position),
/// [`AnalysisError::Io`] when the file cannot be written.
pub fn write_tokens_binary(
    path: &Path,
    tokens: &[u32],
    width: TokenWidth,
) -> Result<(), AnalysisError> {
    let mut bytes = Vec::with_capacity(tokens.len() * width.bytes());
    for (i, &t) in tokens.iter().enumerate() {
        match width {
            TokenWidth::U16 => {
                let v = u16::try_from(t).map_err(|_| {
                    invalid_file(path, format!("token {i} = {t} does not fit 16 bits"))
                })?;
                bytes.extend_from_slice(&v.to_le_bytes());
            }
            TokenWidth::U32 => bytes.extend_from_slice(&t.to_le_bytes()),
        }
    }
    crate::atomic::write_file(path, bytes)
}

/// Reads a point cloud; returns the row-major values (`n·dim` of them, point after point) and
/// the dimension `dim`. `dim` is required for binary files and checked against CSV rows when
/// given.
///
/// # Errors
///
/// An error naming the file (and the line for CSV) when it cannot be read, for a binary file
/// without a positive `dim` or not a whole number of points, rows of unequal width or a width
/// other than `dim`, a field that is not a number, a non-finite coordinate, or a file without
/// points.
pub fn read_points(
    path: &Path,
    format: PointsFormat,
    dim: Option<usize>,
) -> Result<(Vec<f32>, usize), AnalysisError> {
    let binary = match format {
        PointsFormat::Auto => ext_is(path, &["bin", "f32"]),
        PointsFormat::F32 => true,
        PointsFormat::Csv => false,
    };
    if binary {
        let dim = dim
            .ok_or_else(|| invalid_file(path, "binary f32 points need their dimension (--dim)"))?;
        if dim == 0 {
            return Err(invalid_file(path, "dim = 0"));
        }
        let Some(point_bytes) = dim.checked_mul(4) else {
            return Err(invalid_file(path, format!("dim = {dim} is too large (overflows a size)")));
        };
        let bytes = read_bytes(path)?;
        if bytes.len() % point_bytes != 0 {
            return Err(invalid_file(
                path,
                format!(
                    "{} bytes is not a whole number of {dim}-dimensional f32 points",
                    bytes.len()
                ),
            ));
        }
        let v: Vec<f32> =
            bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(invalid_file(
                path,
                format!("point {} coordinate {} is {}", i / dim, i % dim, v[i]),
            ));
        }
        if v.is_empty() {
            return Err(invalid_file(path, "the file holds no points"));
        }
        return Ok((v, dim));
    }
    let rows = read_numeric_csv(path)?;
    let width = rows
        .first()
        .map(|r| r.1.len())
        .ok_or_else(|| invalid_file(path, "the file holds no points"))?;
    if let Some(d) = dim
        && d != width
    {
        return Err(invalid_file(path, format!("rows have {width} columns but --dim is {d}")));
    }
    let mut v = Vec::with_capacity(rows.len() * width);
    for (line, row) in &rows {
        if row.len() != width {
            return Err(invalid_file(
                path,
                format!("line {line}: {} columns, expected {width}", row.len()),
            ));
        }
        v.extend(row.iter().map(|x| *x as f32));
    }
    Ok((v, width))
}

/// Numeric CSV rows with their 1-based line numbers; a first row that does not parse as
/// numbers is taken as a header and skipped. Non-finite values are errors.
fn read_numeric_csv(path: &Path) -> Result<Vec<(u64, Vec<f64>)>, AnalysisError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_path(path)
        .map_err(|e| csv_error(path, 0, e.to_string()))?;
    let mut rows = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec =
            rec.map_err(|e| csv_error(path, e.position().map_or(0, |p| p.line()), e.to_string()))?;
        let line = rec.position().map_or(i as u64 + 1, |p| p.line());
        if rec.iter().all(|f| f.is_empty()) {
            continue;
        }
        let parsed: Result<Vec<f64>, String> =
            rec.iter().map(|f| f.parse::<f64>().map_err(|_| f.to_string())).collect();
        match parsed {
            Ok(v) => {
                if let Some(j) = v.iter().position(|x| !x.is_finite()) {
                    return Err(csv_error(
                        path,
                        line,
                        format!("column {} is {} (values must be finite)", j + 1, v[j]),
                    ));
                }
                rows.push((line, v));
            }
            Err(field) if rows.is_empty() && i == 0 => {
                let _ = field; // header row
            }
            Err(field) => return Err(csv_error(path, line, format!("{field:?} is not a number"))),
        }
    }
    Ok(rows)
}

fn csv_error(path: &Path, line: u64, message: String) -> AnalysisError {
    AnalysisError::Csv { path: PathBuf::from(path), line, message }
}

/// Reads per-position losses (see the module documentation): `losses[n]` for `n = 0..`, in
/// the file's unit (nats per token for scalinglab's evaluations). A sweep's
/// `per_position.csv` (recognised by its `run_id` column) gives the curve of its largest data
/// size (the lowest over model sizes there), with `L_0` missing (NaN).
///
/// # Errors
///
/// An error naming the file (and the line where there is one) when it cannot be read, for a
/// field that is not a finite number, a wrong number of columns, positions that are not
/// exactly `0..n`, or a file without losses.
pub fn read_position_losses(path: &Path) -> Result<Vec<f64>, AnalysisError> {
    let first = std::fs::read_to_string(path)
        .map_err(|e| AnalysisError::io("cannot read", path, e))?
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    if first.split(',').any(|h| h.trim() == "run_id") {
        let curves = read_sweep_positions(path)?;
        return Ok(curves.into_iter().next_back().map(|c| c.losses).unwrap_or_default());
    }
    let rows = read_numeric_csv(path)?;
    if rows.is_empty() {
        return Err(invalid_file(path, "the file holds no losses"));
    }
    match rows[0].1.len() {
        1 => {
            if let Some((line, r)) = rows.iter().find(|r| r.1.len() != 1) {
                return Err(csv_error(path, *line, format!("{} columns, expected 1", r.len())));
            }
            Ok(rows.into_iter().map(|r| r.1[0]).collect())
        }
        2 => {
            let mut pairs = Vec::with_capacity(rows.len());
            for (line, r) in &rows {
                if r.len() != 2 {
                    return Err(csv_error(
                        path,
                        *line,
                        format!("{} columns, expected 2 (position,loss)", r.len()),
                    ));
                }
                pairs.push((position(path, *line, r[0])?, r[1], *line));
            }
            contiguous(path, pairs)
        }
        k => {
            Err(csv_error(path, rows[0].0, format!("{k} columns: expected loss or position,loss")))
        }
    }
}

fn position(path: &Path, line: u64, v: f64) -> Result<usize, AnalysisError> {
    if v >= 0.0 && v.fract() == 0.0 && v < 1e9 {
        Ok(v as usize)
    } else {
        Err(csv_error(path, line, format!("position {v} is not a non-negative integer")))
    }
}

/// `(position, loss, line)` of one CSV row.
type Row = (usize, f64, u64);

/// Losses ordered by position; positions must be exactly `0..n`.
fn contiguous(path: &Path, mut pairs: Vec<Row>) -> Result<Vec<f64>, AnalysisError> {
    pairs.sort_by_key(|p| p.0);
    for (i, p) in pairs.iter().enumerate() {
        if p.0 != i {
            let msg = if p.0 < i {
                format!("position {} appears twice", p.0)
            } else {
                format!(
                    "position {i} is missing (positions must run 0, 1, 2, … = tokens of context)"
                )
            };
            return Err(csv_error(path, p.2, msg));
        }
    }
    Ok(pairs.into_iter().map(|p| p.1).collect())
}

/// Reads a sweep's `per_position.csv` (`run_id,params_non_embedding,tokens,position,loss`,
/// positions from 1): at each data size the run with the lowest mean loss (the lower envelope
/// over model sizes, as Cagnetta et al. take it) gives the curve; `L_0` is missing (NaN).
fn read_sweep_positions(path: &Path) -> Result<Vec<LossCurve>, AnalysisError> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| csv_error(path, 0, e.to_string()))?;
    let headers = rdr.headers().map_err(|e| csv_error(path, 1, e.to_string()))?.clone();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            csv_error(
                path,
                1,
                format!(
                    "no column {name:?} (header: {})",
                    headers.iter().collect::<Vec<_>>().join(",")
                ),
            )
        })
    };
    let (run, tok, pos, loss) = (col("run_id")?, col("tokens")?, col("position")?, col("loss")?);
    // run id → (tokens, rows)
    let mut runs: Vec<(String, f64, Vec<Row>)> = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i as u64 + 2;
        let rec = rec.map_err(|e| csv_error(path, line, e.to_string()))?;
        let num = |j: usize, what: &str| -> Result<f64, AnalysisError> {
            let f = rec.get(j).unwrap_or("");
            f.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
                csv_error(path, line, format!("{what} {f:?} is not a finite number"))
            })
        };
        let id = rec.get(run).unwrap_or("").to_string();
        let (t, p, l) = (num(tok, "tokens")?, num(pos, "position")?, num(loss, "loss")?);
        let p = position(path, line, p)?;
        match runs.iter_mut().find(|r| r.0 == id) {
            Some(r) => r.2.push((p, l, line)),
            None => runs.push((id, t, vec![(p, l, line)])),
        }
    }
    let mut best: Vec<(f64, f64, Vec<f64>)> = Vec::new(); // (tokens, mean, losses)
    for (_, t, mut rows) in runs {
        if !rows.iter().any(|r| r.0 == 0) {
            rows.push((0, f64::NAN, 0));
        }
        let losses = contiguous(path, rows)?;
        let mean = losses[1..].iter().sum::<f64>() / (losses.len() - 1).max(1) as f64;
        match best.iter_mut().find(|b| b.0 == t) {
            Some(b) if mean < b.1 => *b = (t, mean, losses),
            Some(_) => {}
            None => best.push((t, mean, losses)),
        }
    }
    if best.is_empty() {
        return Err(invalid_file(path, "the file holds no losses"));
    }
    best.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(best.into_iter().map(|(tokens, _, losses)| LossCurve { tokens, losses }).collect())
}

/// Reads a `tokens,position,loss` table into one [`LossCurve`] per data size (tokens), in
/// increasing size.
///
/// A sweep's `per_position.csv` (columns `run_id`, `params_non_embedding`, `tokens`,
/// `position`, `loss`; recognised by its `run_id` column) is read too: at each data size the
/// run with the lowest mean loss gives the curve, whose `L_0` is missing (NaN) since the sweep
/// starts at position 1.
///
/// # Errors
///
/// An error naming the file (and the line where there is one) when it cannot be read, for a
/// malformed row, a non-positive data size, positions that are not exactly `0..n` within a
/// curve, or a file without losses.
pub fn read_loss_table(path: &Path) -> Result<Vec<LossCurve>, AnalysisError> {
    let first = std::fs::read_to_string(path)
        .map_err(|e| AnalysisError::io("cannot read", path, e))?
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    if first.split(',').any(|h| h.trim() == "run_id") {
        return read_sweep_positions(path);
    }
    let rows = read_numeric_csv(path)?;
    let mut groups: Vec<(f64, Vec<Row>)> = Vec::new();
    for (line, r) in &rows {
        if r.len() != 3 {
            return Err(csv_error(
                path,
                *line,
                format!("{} columns, expected 3 (tokens,position,loss)", r.len()),
            ));
        }
        if r[0] <= 0.0 {
            return Err(csv_error(path, *line, format!("data size {} must be > 0", r[0])));
        }
        let pos = position(path, *line, r[1])?;
        match groups.iter_mut().find(|g| g.0 == r[0]) {
            Some(g) => g.1.push((pos, r[2], *line)),
            None => groups.push((r[0], vec![(pos, r[2], *line)])),
        }
    }
    if groups.is_empty() {
        return Err(invalid_file(path, "the file holds no losses"));
    }
    groups.sort_by(|a, b| a.0.total_cmp(&b.0));
    groups
        .into_iter()
        .map(|(p, pairs)| Ok(LossCurve { tokens: p, losses: contiguous(path, pairs)? }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("scalinglab-stats-io-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn token_files_round_trip_and_errors() {
        let d = dir("tokens");
        let t = vec![0u32, 5, 7, 65535, 3];
        let p16 = d.join("a.bin");
        write_tokens_binary(&p16, &t, TokenWidth::U16).unwrap();
        assert_eq!(read_tokens(&p16, TokenFormat::Auto, TokenWidth::U16, 65536).unwrap(), t);
        let e = read_tokens(&p16, TokenFormat::Auto, TokenWidth::U16, 100).unwrap_err().to_string();
        assert!(e.contains("token 3 has id 65535 >= vocab = 100"), "{e}");
        let e =
            read_tokens(&p16, TokenFormat::Auto, TokenWidth::U32, 1 << 20).unwrap_err().to_string();
        assert!(e.contains("10 bytes") && e.contains("32-bit"), "{e}");
        let p32 = d.join("b.u32");
        write_tokens_binary(&p32, &[1, 70000], TokenWidth::U32).unwrap();
        assert_eq!(
            read_tokens(&p32, TokenFormat::Auto, TokenWidth::U32, 80000).unwrap(),
            vec![1, 70000]
        );
        assert!(
            write_tokens_binary(&d.join("c.bin"), &[70000], TokenWidth::U16)
                .unwrap_err()
                .to_string()
                .contains("16 bits")
        );
        let txt = d.join("t.txt");
        std::fs::write(&txt, "1 2 3\n4\t5\n\n6\n").unwrap();
        assert_eq!(
            read_tokens(&txt, TokenFormat::Auto, TokenWidth::U16, 10).unwrap(),
            vec![1, 2, 3, 4, 5, 6]
        );
        std::fs::write(&txt, "1 2\n3 x\n").unwrap();
        let e = read_tokens(&txt, TokenFormat::Auto, TokenWidth::U16, 10).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("\"x\""), "{e}");
        std::fs::write(&txt, "1 2\n3 12\n").unwrap();
        assert!(
            read_tokens(&txt, TokenFormat::Text, TokenWidth::U16, 10)
                .unwrap_err()
                .to_string()
                .contains("line 2: token id 12")
        );
        let e = read_tokens(&d.join("missing.bin"), TokenFormat::Auto, TokenWidth::U16, 10)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.bin"), "{e}");
    }

    #[test]
    fn point_files() {
        let d = dir("points");
        let csv = d.join("p.csv");
        std::fs::write(&csv, "x,y,z\n1,2,3\n4, 5 ,6\n").unwrap();
        assert_eq!(
            read_points(&csv, PointsFormat::Auto, None).unwrap(),
            (vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 3)
        );
        std::fs::write(&csv, "1,2,3\n4,5,6\n").unwrap();
        assert_eq!(read_points(&csv, PointsFormat::Auto, Some(3)).unwrap().1, 3);
        assert!(
            read_points(&csv, PointsFormat::Auto, Some(2))
                .unwrap_err()
                .to_string()
                .contains("--dim is 2")
        );
        std::fs::write(&csv, "1,2,3\n4,5\n").unwrap();
        assert!(
            read_points(&csv, PointsFormat::Auto, None).unwrap_err().to_string().contains("line 2")
        );
        std::fs::write(&csv, "1,2\n4,nan\n").unwrap();
        assert!(
            read_points(&csv, PointsFormat::Auto, None).unwrap_err().to_string().contains("finite")
        );
        std::fs::write(&csv, "1,2\n4,b\n").unwrap();
        assert!(
            read_points(&csv, PointsFormat::Auto, None)
                .unwrap_err()
                .to_string()
                .contains("\"b\" is not a number")
        );
        let bin = d.join("p.f32");
        let vals: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(&bin, &vals).unwrap();
        assert_eq!(
            read_points(&bin, PointsFormat::Auto, Some(2)).unwrap(),
            (vec![1.0, 2.0, 3.0, 4.0], 2)
        );
        // A dimension whose byte size overflows is refused, naming it, before the file is read.
        let e = read_points(&bin, PointsFormat::Auto, Some(usize::MAX)).unwrap_err().to_string();
        assert!(e.contains("p.f32") && e.contains(&format!("dim = {}", usize::MAX)), "{e}");
        assert!(
            read_points(&bin, PointsFormat::Auto, None).unwrap_err().to_string().contains("--dim")
        );
        assert!(
            read_points(&bin, PointsFormat::Auto, Some(3))
                .unwrap_err()
                .to_string()
                .contains("16 bytes")
        );
    }

    #[test]
    fn loss_files() {
        let d = dir("losses");
        let p = d.join("l.csv");
        std::fs::write(&p, "loss\n3.0\n2.5\n2.2\n").unwrap();
        assert_eq!(read_position_losses(&p).unwrap(), vec![3.0, 2.5, 2.2]);
        std::fs::write(&p, "position,loss\n1,2.5\n0,3.0\n2,2.2\n").unwrap();
        assert_eq!(read_position_losses(&p).unwrap(), vec![3.0, 2.5, 2.2]);
        std::fs::write(&p, "1,2.5\n2,2.2\n").unwrap();
        assert!(
            read_position_losses(&p).unwrap_err().to_string().contains("position 0 is missing")
        );
        std::fs::write(&p, "0,2.5\n0,2.2\n").unwrap();
        assert!(read_position_losses(&p).unwrap_err().to_string().contains("twice"));
        let t = d.join("table.csv");
        std::fs::write(&t, "tokens,position,loss\n1e6,0,5\n1e5,0,6\n1e6,1,4\n1e5,1,5.5\n").unwrap();
        let curves = read_loss_table(&t).unwrap();
        assert_eq!(curves.len(), 2);
        assert_eq!(curves[0], LossCurve { tokens: 1e5, losses: vec![6.0, 5.5] });
        std::fs::write(&t, "1e6,0\n").unwrap();
        assert!(read_loss_table(&t).unwrap_err().to_string().contains("expected 3"));
        // A sweep's per_position.csv: the better of two models at D = 100 is kept; L_0 is NaN.
        let s = d.join("per_position.csv");
        std::fs::write(
            &s,
            "run_id,params_non_embedding,tokens,position,loss\n\
             a,10,100,1,5.0\na,10,100,2,4.0\nb,20,100,1,4.5\nb,20,100,2,3.5\n\
             c,20,400,1,4.0\nc,20,400,2,3.0\n",
        )
        .unwrap();
        let curves = read_loss_table(&s).unwrap();
        assert_eq!(curves.len(), 2);
        assert_eq!(curves[0].tokens, 100.0);
        assert!(curves[0].losses[0].is_nan());
        assert_eq!(curves[0].losses[1..], [4.5, 3.5]);
        assert_eq!(curves[1].losses[1..], [4.0, 3.0]);
        std::fs::write(&s, "run_id,tokens,position,loss\na,100,1,x\n").unwrap();
        let e = read_loss_table(&s).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("loss \"x\""), "{e}");
    }
}
