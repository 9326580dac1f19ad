//! Reading and writing the safetensors format, the interchange format of PyTorch, JAX and
//! Hugging Face tools, through the `safetensors` crate.
//!
//! A file is an 8-byte little-endian header length `n`, a JSON header of `n` bytes mapping each
//! tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}` plus an optional
//! `"__metadata__"` map of strings, then the raw little-endian data.
//!
//! - Reading memory-maps the file and lets [`safetensors::SafeTensors::deserialize`] validate
//!   the header against the data (offsets contiguous, each tensor's bytes matching its shape and
//!   dtype, the data ending exactly at the end of the file) without copying it; F32, F16 and
//!   BF16 tensors are then widened to f32. Any other dtype is refused, naming the file, the
//!   tensor and the dtype.
//! - Writing goes through [`safetensors::tensor::Metadata`] (which validates the offsets and
//!   serialises the header, padded to 8 bytes) and keeps the tensors in the order given: the
//!   crate's own `serialize` sorts them by name, and checkpoints are restored by position.
//!   Files are written to a temporary name and renamed, so a crash never leaves a half-written
//!   file under the final name. The dtype is F32 by default; [`write_safetensors_as`] also
//!   writes BF16 or F16 (rounded to nearest, ties to even).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;
use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::{Dtype, SafeTensorError, SafeTensors};

/// One named f32 tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    /// Name (for module weights: the module path, e.g. `blocks.0.attn.qkv.weight`).
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub values: Vec<f32>,
}

/// Errors reading or writing a safetensors file; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum SafetensorsError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid safetensors, or the tensors to write are inconsistent.
    #[error("{path}: not a valid safetensors file: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A tensor has a dtype this crate does not read (only F32, F16 and BF16 are).
    #[error("{path}: tensor {tensor} has dtype {dtype}; only F32, F16 and BF16 are read")]
    UnsupportedDtype {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        tensor: String,
        /// Its dtype, as the header spells it (`I64`, `F64`, …).
        dtype: String,
    },
}

/// The floating-point type tensors are stored as.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FloatDtype {
    /// 32-bit IEEE float (exact). The default.
    #[default]
    F32,
    /// bfloat16: f32's exponent range, 8 significant bits.
    Bf16,
    /// IEEE half precision: 11 significant bits, largest finite value 65504.
    F16,
}

impl FloatDtype {
    fn safetensors(self) -> Dtype {
        match self {
            FloatDtype::F32 => Dtype::F32,
            FloatDtype::Bf16 => Dtype::BF16,
            FloatDtype::F16 => Dtype::F16,
        }
    }

    /// Bytes per value.
    pub fn bytes(self) -> usize {
        match self {
            FloatDtype::F32 => 4,
            FloatDtype::Bf16 | FloatDtype::F16 => 2,
        }
    }

    /// PyTorch's name of the type (`float32`, `bfloat16`, `float16`), as Hugging Face's
    /// `config.json` records it.
    pub fn torch_name(self) -> &'static str {
        match self {
            FloatDtype::F32 => "float32",
            FloatDtype::Bf16 => "bfloat16",
            FloatDtype::F16 => "float16",
        }
    }
}

impl std::fmt::Display for FloatDtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FloatDtype::F32 => "f32",
            FloatDtype::Bf16 => "bf16",
            FloatDtype::F16 => "f16",
        })
    }
}

impl std::str::FromStr for FloatDtype {
    type Err = String;

    /// `f32`, `bf16` or `f16` (also `float32`, `bfloat16`, `float16`), any case.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "float32" => Ok(FloatDtype::F32),
            "bf16" | "bfloat16" => Ok(FloatDtype::Bf16),
            "f16" | "float16" => Ok(FloatDtype::F16),
            _ => Err(format!("unknown dtype {s:?}: expected f32, bf16 or f16")),
        }
    }
}

/// f32 → bfloat16 bits, rounded to nearest with ties to even (NaN stays a quiet NaN).
pub(crate) fn f32_to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) as u16) | 0x0040;
    }
    let round = 0x7fff + ((bits >> 16) & 1);
    (bits.wrapping_add(round) >> 16) as u16
}

/// bfloat16 bits → f32 (exact).
pub(crate) fn bf16_to_f32(h: u16) -> f32 {
    f32::from_bits(u32::from(h) << 16)
}

/// f32 → IEEE half bits, rounded to nearest with ties to even; overflow gives ±∞, values below
/// half the smallest subnormal give ±0, NaN stays a quiet NaN.
pub(crate) fn f32_to_f16(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let man = bits & 0x007f_ffff;
    if exp == 0xff {
        let nan = if man != 0 { 0x0200 | (man >> 13) as u16 } else { 0 };
        return sign | 0x7c00 | nan;
    }
    // Rounds `m >> shift` to nearest, ties to even.
    let round = |m: u32, shift: u32| {
        let q = m >> shift;
        let r = m & ((1 << shift) - 1);
        let half = 1 << (shift - 1);
        if r > half || (r == half && q & 1 == 1) { q + 1 } else { q }
    };
    let e = exp - 127 + 15; // the half-precision biased exponent
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        // Subnormal (units of 2^-24) or zero; a carry into 0x400 is the smallest normal.
        let shift = (14 - e) as u32;
        if shift > 24 {
            return sign;
        }
        return sign | round(man | 0x0080_0000, shift) as u16;
    }
    // Normal; a carry out of the mantissa bumps the exponent (up to ∞), as it should.
    sign | round(((e as u32) << 23) | man, 13) as u16
}

/// IEEE half bits → f32 (exact).
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let negative = h & 0x8000 != 0;
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x03ff);
    let magnitude = match exp {
        0 => man as f32 * f32::from_bits(0x3380_0000), // man × 2^-24
        0x1f => f32::from_bits(0x7f80_0000 | (man << 13)),
        _ => f32::from_bits(((exp + 112) << 23) | (man << 13)),
    };
    if negative { -magnitude } else { magnitude }
}

/// Writes `tensors` (as f32) and `metadata` to `path` (through a temporary file and a rename,
/// so a crash never leaves a half-written file under the final name).
///
/// # Errors
/// If the file cannot be written, a tensor's value count does not match its shape, or two
/// tensors share a name.
pub fn write_safetensors(
    path: &Path,
    tensors: &[NamedTensor],
    metadata: &BTreeMap<String, String>,
) -> Result<(), SafetensorsError> {
    write_safetensors_as(path, tensors, metadata, FloatDtype::F32)
}

/// [`write_safetensors`] storing every tensor as `dtype` (BF16 and F16 rounded to nearest,
/// ties to even; F16 overflows to ±∞ beyond 65504).
///
/// # Errors
/// As [`write_safetensors`].
pub fn write_safetensors_as(
    path: &Path,
    tensors: &[NamedTensor],
    metadata: &BTreeMap<String, String>,
    dtype: FloatDtype,
) -> Result<(), SafetensorsError> {
    let bad = |reason: String| SafetensorsError::Format { path: path.to_path_buf(), reason };
    let mut infos = Vec::with_capacity(tensors.len());
    let mut seen = std::collections::HashSet::new();
    let mut offset = 0usize;
    for t in tensors {
        if t.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) != Some(t.values.len()) {
            return Err(bad(format!(
                "tensor {} has shape {:?} but {} values",
                t.name,
                t.shape,
                t.values.len()
            )));
        }
        if !seen.insert(t.name.as_str()) {
            return Err(bad(format!("two tensors are named {}", t.name)));
        }
        let end = offset + dtype.bytes() * t.values.len();
        let info = TensorInfo {
            dtype: dtype.safetensors(),
            shape: t.shape.clone(),
            data_offsets: (offset, end),
        };
        infos.push((t.name.clone(), info));
        offset = end;
    }
    let meta = (!metadata.is_empty())
        .then(|| metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    let header = Metadata::new(meta, infos).map_err(|e| bad(e.to_string()))?;
    let mut json = serde_json::to_vec(&header).map_err(|e| bad(e.to_string()))?;
    json.resize(json.len().next_multiple_of(8), b' ');

    let io = |source| SafetensorsError::Io { path: path.to_path_buf(), source };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("model.safetensors");
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        f.write_all(&(json.len() as u64).to_le_bytes())?;
        f.write_all(&json)?;
        let mut buf = Vec::with_capacity(1 << 16);
        for t in tensors {
            for chunk in t.values.chunks(1 << 14) {
                buf.clear();
                match dtype {
                    FloatDtype::F32 => buf.extend(chunk.iter().flat_map(|v| v.to_le_bytes())),
                    FloatDtype::Bf16 => {
                        buf.extend(chunk.iter().flat_map(|&v| f32_to_bf16(v).to_le_bytes()))
                    }
                    FloatDtype::F16 => {
                        buf.extend(chunk.iter().flat_map(|&v| f32_to_f16(v).to_le_bytes()))
                    }
                }
                f.write_all(&buf)?;
            }
        }
        f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(io)
}

/// Reads every tensor (in file order, widened to f32) and the metadata of a safetensors file
/// holding F32, F16 or BF16 tensors. The file is memory-mapped and validated by the
/// `safetensors` crate before any value is read.
///
/// # Errors
/// If the file cannot be read; its header is not valid JSON; offsets, shapes and dtypes
/// disagree with each other or with the file's length; or a tensor has another dtype
/// ([`SafetensorsError::UnsupportedDtype`]).
pub fn read_safetensors(
    path: &Path,
) -> Result<(Vec<NamedTensor>, BTreeMap<String, String>), SafetensorsError> {
    let bad = |reason: String| SafetensorsError::Format { path: path.to_path_buf(), reason };
    let io = |source| SafetensorsError::Io { path: path.to_path_buf(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len < 8 {
        return Err(bad(format!("{len} bytes is shorter than the 8-byte header length")));
    }
    // SAFETY: the map is read-only and lives only inside this function, which copies every
    // value out before returning. Undefined behaviour could only come from another process
    // truncating or rewriting the file meanwhile; this crate's writers never do (they write a
    // temporary file and rename it over the old one, which leaves a mapping of the old intact).
    #[allow(unsafe_code)]
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
    let bytes: &[u8] = &map;
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| bad(describe(&e, bytes)))?;
    let st = SafeTensors::deserialize(bytes).map_err(|e| bad(describe(&e, bytes)))?;
    let mut tensors = Vec::with_capacity(st.len());
    // `offset_keys` orders the names by their data offsets: the order they were written in.
    for name in header.offset_keys() {
        let view = st.tensor(&name).map_err(|e| bad(e.to_string()))?;
        let data = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => {
                data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
            }
            Dtype::BF16 => data
                .chunks_exact(2)
                .map(|c| bf16_to_f32(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
            Dtype::F16 => {
                data.chunks_exact(2).map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]]))).collect()
            }
            other => {
                return Err(SafetensorsError::UnsupportedDtype {
                    path: path.to_path_buf(),
                    tensor: name,
                    dtype: format!("{other:?}"),
                });
            }
        };
        tensors.push(NamedTensor { name, shape: view.shape().to_vec(), values });
    }
    let metadata = header.metadata().iter().flatten().map(|(k, v)| (k.clone(), v.clone()));
    Ok((tensors, metadata.collect()))
}

/// Says what is wrong with a file the `safetensors` crate refused, naming the tensor where the
/// crate's error does not (it reports a bad shape or an overflow without the name).
fn describe(e: &SafeTensorError, bytes: &[u8]) -> String {
    let located = match e {
        SafeTensorError::TensorInvalidInfo
        | SafeTensorError::ValidationOverflow
        | SafeTensorError::MisalignedSlice
        | SafeTensorError::MetadataIncompleteBuffer => locate(bytes),
        _ => None,
    };
    match (e, located) {
        (_, Some(what)) => what,
        (SafeTensorError::InvalidOffset(name), _) => format!(
            "tensor {name}: its data offsets do not start where the previous tensor's end (gap, \
             overlap or reversed range)"
        ),
        (SafeTensorError::InvalidHeaderLength, _) => {
            format!("the header length runs past the end of the file ({} bytes)", bytes.len())
        }
        (e, None) => e.to_string(),
    }
}

/// Finds the first tensor whose declared bytes disagree with its shape and dtype, or the
/// mismatch between the data offsets and the file's length.
fn locate(bytes: &[u8]) -> Option<String> {
    let n = usize::try_from(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?)).ok()?;
    let header = bytes.get(8..8usize.checked_add(n)?)?;
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(header).ok()?;
    let mut infos: Vec<(String, TensorInfo)> = map
        .into_iter()
        .filter(|(k, _)| k != "__metadata__")
        .filter_map(|(k, v)| Some((k, serde_json::from_value(v).ok()?)))
        .collect();
    infos.sort_by_key(|(_, i)| i.data_offsets);
    for (name, info) in &infos {
        let (a, b) = info.data_offsets;
        let bits =
            info.shape.iter().try_fold(info.dtype.bitsize(), |acc, &dim| acc.checked_mul(dim));
        let Some(bits) = bits else {
            return Some(format!(
                "tensor {name}: shape {:?} holds more values than can be addressed",
                info.shape
            ));
        };
        if bits % 8 != 0 || b < a || b - a != bits / 8 {
            return Some(format!(
                "tensor {name}: offsets [{a}, {b}] do not hold shape {:?} of {:?}",
                info.shape, info.dtype
            ));
        }
    }
    let end = infos.last().map_or(0, |(_, i)| i.data_offsets.1);
    let data = bytes.len() - 8 - n;
    Some(format!(
        "the data offsets end at byte {end} but the file holds {data} data bytes (truncated, or \
         trailing bytes)"
    ))
}

/// Collects a module's float parameters with their module paths.
#[derive(Default)]
pub(crate) struct NamedParams {
    path: Vec<String>,
    pub(crate) tensors: Vec<NamedTensor>,
}

impl ModuleVisitor for NamedParams {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        let shape = t.shape().to_vec();
        let values = t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default();
        self.tensors.push(NamedTensor { name: self.path.join("."), shape, values });
    }
}

/// Replaces each float parameter by the tensor of the same module path.
pub(crate) struct LoadNamed {
    path: Vec<String>,
    pub(crate) tensors: std::collections::HashMap<String, NamedTensor>,
    pub(crate) errors: Vec<String>,
}

impl LoadNamed {
    pub(crate) fn new(tensors: Vec<NamedTensor>) -> Self {
        Self {
            path: Vec::new(),
            tensors: tensors.into_iter().map(|t| (t.name.clone(), t)).collect(),
            errors: Vec::new(),
        }
    }
}

impl burn::module::ModuleMapper for LoadNamed {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let name = self.path.join(".");
        let Some(t) = self.tensors.remove(&name) else {
            self.errors.push(format!("no tensor {name}"));
            return param;
        };
        let (id, tensor, mapper) = param.consume();
        if tensor.shape().to_vec() != t.shape {
            self.errors.push(format!(
                "tensor {name} has shape {:?}, the model expects {:?}",
                t.shape,
                tensor.shape().to_vec()
            ));
            return Param::from_mapped_value(id, tensor, mapper);
        }
        let value = Tensor::<D>::from_data(TensorData::new(t.values, t.shape), &tensor.device());
        Param::from_mapped_value(id, value, mapper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header whose shape's product overflows is refused naming the tensor, not multiplied
    /// out (a panic in debug builds, a wrapped count that could match the offsets in release).
    #[test]
    fn a_shape_whose_product_overflows_is_refused() {
        let dir = std::env::temp_dir().join(format!("scalinglab-st-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("huge.safetensors");
        // 2^62 × 4 wraps to 0 bytes in 64 bits: offsets [0, 0] would "hold" it.
        for shape in
            ["[4611686018427387904]", "[4294967296, 4294967296]", "[18446744073709551615, 2]"]
        {
            let json =
                format!(r#"{{"w": {{"dtype": "F32", "shape": {shape}, "data_offsets": [0, 0]}}}}"#);
            let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
            bytes.extend_from_slice(json.as_bytes());
            std::fs::write(&path, &bytes).unwrap();
            let e = read_safetensors(&path).unwrap_err().to_string();
            assert!(e.contains("huge.safetensors") && e.contains("tensor w"), "{e}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Every half-precision value survives f16 → f32 → f16, and so does every bfloat16.
    #[test]
    fn half_conversions_round_trip_every_value() {
        for h in 0..=u16::MAX {
            let x = f16_to_f32(h);
            if x.is_nan() {
                assert!(f32_to_f16(x) & 0x7c00 == 0x7c00 && f32_to_f16(x) & 0x03ff != 0);
            } else {
                assert_eq!(f32_to_f16(x), h, "f16 {h:#06x} = {x}");
            }
            let y = bf16_to_f32(h);
            if !y.is_nan() {
                assert_eq!(f32_to_bf16(y), h, "bf16 {h:#06x} = {y}");
            }
        }
    }

    /// Rounding goes to the nearest representable value, ties to even, at the edges too.
    #[test]
    fn half_conversions_round_to_nearest_even() {
        // 1 + 2^-11 lies halfway between 1 and the next f16 (1 + 2^-10): ties to even → 1.
        assert_eq!(f32_to_f16(1.0 + 2f32.powi(-11)), 0x3c00);
        assert_eq!(f32_to_f16(1.0 + 3.0 * 2f32.powi(-11)), 0x3c02);
        assert_eq!(f32_to_f16(65504.0), 0x7bff);
        assert_eq!(f32_to_f16(65520.0), 0x7c00); // halfway to 2^16 rounds to ∞
        assert_eq!(f32_to_f16(-1e9), 0xfc00);
        assert_eq!(f32_to_f16(2f32.powi(-24)), 0x0001); // smallest subnormal
        assert_eq!(f32_to_f16(2f32.powi(-25)), 0x0000); // half of it: ties to even → 0
        assert_eq!(f32_to_f16(1.5 * 2f32.powi(-25)), 0x0001);
        assert_eq!(f32_to_f16(-0.0), 0x8000);
        assert_eq!(f32_to_bf16(1.0 + 2f32.powi(-8)), 0x3f80); // tie → even
        assert_eq!(f32_to_bf16(1.0 + 3.0 * 2f32.powi(-8)), 0x3f82);
        // Nearest: no neighbour of the result is closer, over a sweep of magnitudes.
        let mut x = 1e-8f32;
        while x < 6e4 {
            for v in [x, -x] {
                let h = f32_to_f16(v);
                let err = (f16_to_f32(h) - v).abs();
                for n in [h.wrapping_sub(1), h.wrapping_add(1)] {
                    let other = f16_to_f32(n);
                    assert!(other.is_nan() || (other - v).abs() >= err, "{v}: {h:#06x}");
                }
                let b = f32_to_bf16(v);
                let err = (bf16_to_f32(b) - v).abs();
                for n in [b.wrapping_sub(1), b.wrapping_add(1)] {
                    assert!((bf16_to_f32(n) - v).abs() >= err, "{v}: bf16 {b:#06x}");
                }
            }
            x *= 1.0123;
        }
    }
}
