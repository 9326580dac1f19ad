//! Reading and writing the safetensors format (f32 tensors), the interchange format of
//! PyTorch, JAX and Hugging Face tools.
//!
//! The format is small enough to write by hand (and so needs no extra dependency): an 8-byte
//! little-endian header length `n`, a JSON header of `n` bytes mapping each tensor name to
//! `{"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}` (offsets into the data
//! that follows) plus an optional `"__metadata__"` map of strings, then the raw little-endian
//! data. The header is padded with spaces to a multiple of 8 bytes, as the reference
//! implementation does.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;

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
    /// The file is not valid safetensors (or holds a dtype other than F32).
    #[error("{path}: not a valid f32 safetensors file: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Writes `tensors` and `metadata` to `path` (through a temporary file and a rename, so a
/// crash never leaves a half-written file under the final name).
///
/// # Errors
/// If the file cannot be written, or a tensor's value count does not match its shape.
pub fn write_safetensors(
    path: &Path,
    tensors: &[NamedTensor],
    metadata: &BTreeMap<String, String>,
) -> Result<(), SafetensorsError> {
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        header.insert("__metadata__".into(), serde_json::to_value(metadata).expect("strings"));
    }
    let mut offset = 0usize;
    for t in tensors {
        if t.shape.iter().product::<usize>() != t.values.len() {
            return Err(SafetensorsError::Format {
                path: path.to_path_buf(),
                reason: format!(
                    "tensor {} has shape {:?} but {} values",
                    t.name,
                    t.shape,
                    t.values.len()
                ),
            });
        }
        let end = offset + 4 * t.values.len();
        header.insert(
            t.name.clone(),
            serde_json::json!({"dtype": "F32", "shape": t.shape, "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    let mut json = serde_json::Value::Object(header).to_string().into_bytes();
    while !json.len().is_multiple_of(8) {
        json.push(b' ');
    }
    let io = |source| SafetensorsError::Io { path: path.to_path_buf(), source };
    let tmp = path.with_extension("safetensors.tmp");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
        f.write_all(&(json.len() as u64).to_le_bytes()).map_err(io)?;
        f.write_all(&json).map_err(io)?;
        for t in tensors {
            for v in &t.values {
                f.write_all(&v.to_le_bytes()).map_err(io)?;
            }
        }
        f.into_inner().map_err(|e| io(e.into_error()))?.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)
}

/// Reads every tensor (in file order) and the metadata of an f32 safetensors file.
///
/// # Errors
/// If the file cannot be read, its header is not valid JSON, a tensor is not F32, or offsets
/// and shapes disagree with the data.
pub fn read_safetensors(
    path: &Path,
) -> Result<(Vec<NamedTensor>, BTreeMap<String, String>), SafetensorsError> {
    let bad = |reason: String| SafetensorsError::Format { path: path.to_path_buf(), reason };
    let bytes =
        std::fs::read(path).map_err(|source| SafetensorsError::Io { path: path.into(), source })?;
    if bytes.len() < 8 {
        return Err(bad(format!("{} bytes is shorter than the 8-byte header length", bytes.len())));
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let data_start = 8usize.checked_add(n).filter(|&e| e <= bytes.len()).ok_or_else(|| {
        bad(format!("header length {n} runs past the end of the file ({} bytes)", bytes.len()))
    })?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..data_start]).map_err(|e| bad(e.to_string()))?;
    let data = &bytes[data_start..];
    let mut metadata = BTreeMap::new();
    let mut tensors = Vec::new();
    for (name, entry) in header {
        if name == "__metadata__" {
            metadata = serde_json::from_value(entry).map_err(|e| bad(e.to_string()))?;
            continue;
        }
        #[derive(serde::Deserialize)]
        struct Entry {
            dtype: String,
            shape: Vec<usize>,
            data_offsets: [usize; 2],
        }
        let e: Entry =
            serde_json::from_value(entry).map_err(|e| bad(format!("tensor {name}: {e}")))?;
        if e.dtype != "F32" {
            return Err(bad(format!("tensor {name} has dtype {}, only F32 is read", e.dtype)));
        }
        let [a, b] = e.data_offsets;
        // Checked: a crafted shape's product (or its byte count) may not fit in a usize.
        let bytes_needed =
            e.shape.iter().try_fold(4usize, |acc, &dim| acc.checked_mul(dim)).ok_or_else(|| {
                bad(format!(
                    "tensor {name}: shape {:?} holds more values than can be addressed",
                    e.shape
                ))
            })?;
        if a > b || b > data.len() || b - a != bytes_needed {
            return Err(bad(format!(
                "tensor {name}: offsets [{a}, {b}] do not hold shape {:?} in {} data bytes",
                e.shape,
                data.len()
            )));
        }
        let values = data[a..b]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        tensors.push((a, NamedTensor { name, shape: e.shape, values }));
    }
    tensors.sort_by_key(|(a, _)| *a);
    Ok((tensors.into_iter().map(|(_, t)| t).collect(), metadata))
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
}
