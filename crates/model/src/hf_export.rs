//! Export of GPT-2-family models to the Hugging Face layout: a `model.safetensors` with
//! `GPT2LMHeadModel`'s key names and a `config.json`, loadable with
//! `transformers.GPT2LMHeadModel.from_pretrained(dir)`.
//!
//! The mapping, per block `i` (burn module path → Hugging Face key):
//!
//! | ours | Hugging Face | layout |
//! |---|---|---|
//! | `tok_emb.weight` `[V, d]` | `transformer.wte.weight` | same |
//! | `pos_emb.weight` `[T, d]` | `transformer.wpe.weight` | same |
//! | `blocks.i.ln1.Layer.{gamma,beta}` | `transformer.h.i.ln_1.{weight,bias}` | same |
//! | `blocks.i.attn.qkv.{weight,bias}` `[d, 3d]` | `transformer.h.i.attn.c_attn.{weight,bias}` | same |
//! | `blocks.i.attn.proj.{weight,bias}` `[d, d]` | `transformer.h.i.attn.c_proj.{weight,bias}` | same |
//! | `blocks.i.ln2.Layer.{gamma,beta}` | `transformer.h.i.ln_2.{weight,bias}` | same |
//! | `blocks.i.mlp.fc.{weight,bias}` `[d, f]` | `transformer.h.i.mlp.c_fc.{weight,bias}` | same |
//! | `blocks.i.mlp.proj.{weight,bias}` `[f, d]` | `transformer.h.i.mlp.c_proj.{weight,bias}` | same |
//! | `ln_f.Layer.{gamma,beta}` | `transformer.ln_f.{weight,bias}` | same |
//! | `lm_head.weight` `[d, V]` (untied only) | `lm_head.weight` `[V, d]` | transposed |
//!
//! burn's `Linear` stores its weight as `[d_in, d_out]`, which is exactly the layout of GPT-2's
//! `Conv1D`, so only the unembedding (an `nn.Linear` in PyTorch) is transposed. Our fused
//! projection's output columns are `[q | k | v]`, each `d` wide with the heads contiguous inside,
//! the split Hugging Face makes of `c_attn`'s output. A model without biases is exported with
//! zero biases, which computes the same function. A tied unembedding is left out of the file;
//! `tie_word_embeddings` makes Hugging Face tie it again.
//!
//! What GPT-2 cannot express is refused rather than approximated: the LLaMA family (RMSNorm,
//! rotary positions, SwiGLU), and muP's attention scale `1/d_head` and output multiplier.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::safetensors::NamedParams;
use crate::{Arch, FloatDtype, Gpt, ModelConfig, NamedTensor, SafetensorsError};

/// GPT-2's LayerNorm `ε` (the `LAYER_NORM_EPS` of `gpt.rs`, PyTorch's and Hugging Face's
/// default).
const LAYER_NORM_EPS: f64 = 1e-5;

/// Errors exporting a model to the Hugging Face layout.
#[derive(Debug, thiserror::Error)]
pub enum HfExportError {
    /// The model has a feature Hugging Face's GPT-2 cannot represent.
    #[error("cannot export as Hugging Face GPT-2: {what}: {why}")]
    Unsupported {
        /// The feature (`arch = llama`, `parameterization = mup`, …).
        what: String,
        /// Why GPT2LMHeadModel cannot hold it.
        why: String,
    },
    /// The tensors do not fit the model configuration.
    #[error("cannot export as Hugging Face GPT-2: the weights do not fit the config: {0}")]
    Mismatch(String),
    /// Writing `model.safetensors` failed.
    #[error(transparent)]
    Safetensors(#[from] SafetensorsError),
    /// Writing `config.json` (or creating the directory) failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

fn unsupported(what: impl Into<String>, why: impl Into<String>) -> HfExportError {
    HfExportError::Unsupported { what: what.into(), why: why.into() }
}

/// Checks that `cfg` describes a model Hugging Face's `GPT2LMHeadModel` computes exactly.
///
/// # Errors
/// [`HfExportError::Unsupported`] for the LLaMA family, for grouped-query attention, for an
/// attention scale other than `1/√d_head` (muP) and for a logit multiplier other than 1 (muP's
/// output multiplier); [`HfExportError::Mismatch`] for an invalid config.
pub fn check_hf_gpt2(cfg: &ModelConfig) -> Result<(), HfExportError> {
    cfg.validate().map_err(|e| HfExportError::Mismatch(e.to_string()))?;
    if cfg.arch != Arch::Gpt2 {
        return Err(unsupported(
            format!("arch = {}", cfg.arch),
            "RMSNorm, rotary position embeddings and the SwiGLU MLP have no GPT-2 counterpart \
             (the LLaMA family would need LlamaForCausalLM, which is not exported)",
        ));
    }
    if cfg.kv_heads() != cfg.n_heads {
        return Err(unsupported(
            format!("n_kv_heads = {}", cfg.kv_heads()),
            "GPT-2 has no grouped-query attention",
        ));
    }
    let gpt2_scale = 1.0 / (cfg.head_dim() as f64).sqrt();
    if (cfg.attention_scale() - gpt2_scale).abs() > 1e-12 * gpt2_scale {
        return Err(unsupported(
            format!("parameterization = {}", cfg.parameterization),
            format!(
                "attention logits are scaled by {} but GPT-2 scales them by 1/sqrt(d_head) = {}",
                cfg.attention_scale(),
                gpt2_scale
            ),
        ));
    }
    if cfg.logit_multiplier() != 1.0 {
        return Err(unsupported(
            format!("parameterization = {}", cfg.parameterization),
            format!(
                "the logits are multiplied by {} (output_multiplier / width multiplier), which \
                 GPT2LMHeadModel has no place for",
                cfg.logit_multiplier()
            ),
        ));
    }
    Ok(())
}

/// The Hugging Face `config.json` of `cfg` (which [`check_hf_gpt2`] should accept), with the
/// weights stored as `dtype`.
///
/// Besides GPT2Config's own fields it records `bias` (whether the exported biases are trained
/// or zeros standing in for none); Hugging Face keeps unknown keys as attributes and ignores
/// them.
pub fn hf_gpt2_config(cfg: &ModelConfig, dtype: FloatDtype) -> serde_json::Value {
    serde_json::json!({
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": cfg.vocab_size,
        "n_positions": cfg.context,
        "n_ctx": cfg.context,
        "n_embd": cfg.d_model,
        "n_layer": cfg.n_layers,
        "n_head": cfg.n_heads,
        "n_inner": cfg.d_ff(),
        // Our GELU is the exact erf form (crate::fused::gelu); "gelu_new" would be the tanh
        // approximation.
        "activation_function": "gelu",
        "layer_norm_epsilon": LAYER_NORM_EPS,
        // Our dropout acts on the embeddings and on each residual branch, never on the
        // attention probabilities.
        "embd_pdrop": cfg.dropout,
        "resid_pdrop": cfg.dropout,
        "attn_pdrop": 0.0,
        "initializer_range": cfg.init_std,
        "scale_attn_weights": true,
        "scale_attn_by_inverse_layer_idx": false,
        "reorder_and_upcast_attn": false,
        "tie_word_embeddings": cfg.tie_embeddings,
        "bias": cfg.bias(),
        "bos_token_id": null,
        "eos_token_id": null,
        "use_cache": true,
        "torch_dtype": dtype.torch_name(),
    })
}

/// Takes tensors out of our named set by name, checking shapes.
struct Ours<'a>(HashMap<&'a str, &'a NamedTensor>);

impl Ours<'_> {
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, HfExportError> {
        let t = self
            .0
            .remove(name)
            .ok_or_else(|| HfExportError::Mismatch(format!("no tensor {name}")))?;
        if t.shape != shape {
            return Err(HfExportError::Mismatch(format!(
                "tensor {name} has shape {:?}, the config implies {shape:?}",
                t.shape
            )));
        }
        Ok(t.values.clone())
    }
}

/// Renames and reshapes a GPT-2 model's parameters (as [`Gpt::export_safetensors`] names them,
/// burn layout) to Hugging Face `GPT2LMHeadModel` keys and layout, biases filled with zeros where
/// the model has none.
///
/// # Errors
/// As [`check_hf_gpt2`]; [`HfExportError::Mismatch`] if a tensor is missing, has another shape
/// than `cfg` implies, or is left over.
pub fn hf_gpt2_tensors(
    cfg: &ModelConfig,
    tensors: &[NamedTensor],
) -> Result<Vec<NamedTensor>, HfExportError> {
    check_hf_gpt2(cfg)?;
    let (v, t, d, f) = (cfg.vocab_size, cfg.context, cfg.d_model, cfg.d_ff());
    let bias = cfg.bias();
    let mut ours = Ours(tensors.iter().map(|t| (t.name.as_str(), t)).collect());
    let mut out = Vec::new();
    let mut put = |name: String, shape: Vec<usize>, values: Vec<f32>| {
        out.push(NamedTensor { name, shape, values });
    };
    put("transformer.wte.weight".into(), vec![v, d], ours.take("tok_emb.weight", &[v, d])?);
    put("transformer.wpe.weight".into(), vec![t, d], ours.take("pos_emb.weight", &[t, d])?);
    // A layer's weight and bias; zeros stand in for a bias the model does not have.
    let mut layer =
        |ours: &mut Ours, ours_prefix: &str, (w, b): (&str, &str), hf: String, shape: &[usize]| {
            let n = *shape.last().expect("a shape");
            let weight = ours.take(&format!("{ours_prefix}.{w}"), shape)?;
            let bias_values =
                if bias { ours.take(&format!("{ours_prefix}.{b}"), &[n])? } else { vec![0.0; n] };
            put(format!("{hf}.weight"), shape.to_vec(), weight);
            put(format!("{hf}.bias"), vec![n], bias_values);
            Ok::<(), HfExportError>(())
        };
    let norm = ("gamma", "beta");
    let linear = ("weight", "bias");
    for i in 0..cfg.n_layers {
        let (b, h) = (format!("blocks.{i}"), format!("transformer.h.{i}"));
        layer(&mut ours, &format!("{b}.ln1.Layer"), norm, format!("{h}.ln_1"), &[d])?;
        layer(
            &mut ours,
            &format!("{b}.attn.qkv"),
            linear,
            format!("{h}.attn.c_attn"),
            &[d, 3 * d],
        )?;
        layer(&mut ours, &format!("{b}.attn.proj"), linear, format!("{h}.attn.c_proj"), &[d, d])?;
        layer(&mut ours, &format!("{b}.ln2.Layer"), norm, format!("{h}.ln_2"), &[d])?;
        layer(&mut ours, &format!("{b}.mlp.fc"), linear, format!("{h}.mlp.c_fc"), &[d, f])?;
        layer(&mut ours, &format!("{b}.mlp.proj"), linear, format!("{h}.mlp.c_proj"), &[f, d])?;
    }
    layer(&mut ours, "ln_f.Layer", norm, "transformer.ln_f".into(), &[d])?;
    if !cfg.tie_embeddings {
        // burn's Linear holds [d_in, d_out] = [d, V]; PyTorch's nn.Linear holds [V, d].
        let w = ours.take("lm_head.weight", &[d, v])?;
        let transposed =
            (0..v).flat_map(|j| (0..d).map(move |k| (j, k))).map(|(j, k)| w[k * v + j]);
        put("lm_head.weight".into(), vec![v, d], transposed.collect());
    }
    if let Some(name) = ours.0.keys().min() {
        return Err(HfExportError::Mismatch(format!("tensor {name} has no GPT-2 counterpart")));
    }
    Ok(out)
}

/// Writes `model` (built from `cfg`) to `dir` as Hugging Face GPT-2: `dir/model.safetensors`
/// (weights as `dtype`, metadata `format = pt`) and `dir/config.json`, creating `dir` if
/// needed. Each file is written to a temporary name and renamed. Returns the two paths.
///
/// # Errors
/// As [`hf_gpt2_tensors`] (nothing is written then), or if a file cannot be written.
pub fn export_hf_gpt2(
    model: &Gpt,
    cfg: &ModelConfig,
    dir: &Path,
    dtype: FloatDtype,
) -> Result<[PathBuf; 2], HfExportError> {
    let mut named = NamedParams::default();
    burn::module::Module::visit(model, &mut named);
    if model.context() != cfg.context {
        return Err(HfExportError::Mismatch(format!(
            "the model has context {}, the config {}",
            model.context(),
            cfg.context
        )));
    }
    let tensors = hf_gpt2_tensors(cfg, &named.tensors)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| HfExportError::Io { path, source }
    };
    if dir.exists() && !dir.is_dir() {
        return Err(HfExportError::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "exists and is not a directory; the export writes a directory \
                 (model.safetensors and config.json), so name a new or existing folder",
            ),
        });
    }
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let weights = dir.join("model.safetensors");
    let meta = BTreeMap::from([("format".to_string(), "pt".to_string())]);
    crate::write_safetensors_as(&weights, &tensors, &meta, dtype)?;
    let config = dir.join("config.json");
    let text = serde_json::to_string_pretty(&hf_gpt2_config(cfg, dtype)).expect("json") + "\n";
    let tmp = dir.join(format!(".config.json.{}.tmp", std::process::id()));
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, &config))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
        .map_err(io(&config))?;
    Ok([weights, config])
}
