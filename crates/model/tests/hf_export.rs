//! safetensors through the `safetensors` crate and the Hugging Face GPT-2 export, against
//! independent truths: exact f32 round trips, bf16/f16 within their rounding, corrupt files
//! refused naming the file, a plain-Rust GPT-2 written in Hugging Face's conventions that must
//! reproduce our logits from the exported tensors alone, and (where torch and transformers
//! import) `GPT2LMHeadModel.from_pretrained` on the export.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use burn::prelude::*;
use scalinglab_model::{
    Arch, FloatDtype, Gpt, ModelConfig, NamedTensor, Parameterization, SafetensorsError,
    export_hf_gpt2, read_safetensors, write_safetensors, write_safetensors_as,
};

/// A fresh directory under the system temp dir, removed by the caller.
fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scalinglab-hf-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A deterministic stream in [-1, 1) (a 64-bit LCG; no global state, so tests may run at once).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f32 {
        self.0 =
            self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

fn tiny(tie: bool, bias: bool) -> ModelConfig {
    ModelConfig {
        vocab_size: 37,
        context: 12,
        d_model: 16,
        n_layers: 2,
        n_heads: 4,
        d_ff: Some(40),
        tie_embeddings: tie,
        bias: Some(bias),
        ..Default::default()
    }
}

/// `cfg`'s model with every parameter drawn afresh from `seed` (norm gains near 1, biases and
/// norm shifts non-zero), so that a misplaced bias, gain or transpose changes the logits. The
/// weights go through our own safetensors writer and loader.
fn perturbed(cfg: &ModelConfig, seed: u64, dir: &Path) -> Gpt {
    let device = Device::flex();
    let path = dir.join("ours.safetensors");
    cfg.init(&device).export_safetensors(&path, &BTreeMap::new()).unwrap();
    let (mut tensors, meta) = read_safetensors(&path).unwrap();
    let mut noise = Noise(seed);
    for t in &mut tensors {
        let fan_in = if t.shape.len() == 2 { t.shape[0] as f32 } else { 1.0 };
        for v in &mut t.values {
            *v = if t.name.ends_with("gamma") {
                1.0 + 0.3 * noise.next()
            } else if t.shape.len() == 1 {
                0.3 * noise.next()
            } else {
                1.5 * noise.next() / fan_in.sqrt()
            };
        }
    }
    write_safetensors(&path, &tensors, &meta).unwrap();
    cfg.load_safetensors(&path, &device).unwrap()
}

/// Our model's logits for one sequence, `[seq][vocab]`.
fn our_logits(model: &Gpt, tokens: &[usize]) -> Vec<Vec<f32>> {
    let ids: Vec<i64> = tokens.iter().map(|&t| t as i64).collect();
    let x = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, tokens.len()]), &Device::flex());
    let logits = model.forward(x);
    let v = logits.dims()[2];
    let flat = logits.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    flat.chunks(v).map(<[f32]>::to_vec).collect()
}

/// erf by its Taylor series in f64 (|error| < 1e-9 for |x| < 6; ±1 beyond).
fn erf(x: f64) -> f64 {
    if x.abs() >= 6.0 {
        return x.signum();
    }
    let (mut term, mut sum) = (x, x);
    for n in 1..200 {
        term *= -x * x / n as f64;
        let add = term / (2 * n + 1) as f64;
        sum += add;
        if add.abs() < 1e-17 {
            break;
        }
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

/// GPT-2 as Hugging Face computes it, from `GPT2LMHeadModel` tensors alone, in f64: Conv1D
/// weights `[in, out]`, `c_attn`'s output split `[q | k | v]` with heads contiguous inside
/// each, exact GELU, LayerNorm ε = `eps`, `lm_head.weight` `[V, d]` (or `wte` when absent).
fn hf_reference_logits(
    w: &HashMap<String, NamedTensor>,
    n_layer: usize,
    n_head: usize,
    eps: f64,
    tokens: &[usize],
) -> Vec<Vec<f64>> {
    let get = |name: &str| -> &NamedTensor {
        w.get(name).unwrap_or_else(|| panic!("the export lacks {name}"))
    };
    let [v, d] = get("transformer.wte.weight").shape[..] else { panic!("wte is not 2-D") };
    let hd = d / n_head;
    let t = tokens.len();
    let row = |name: &str, i: usize| -> Vec<f64> {
        let x = get(name);
        let n = x.shape[1];
        x.values[i * n..(i + 1) * n].iter().map(|&v| f64::from(v)).collect()
    };
    // y = x W + b, W `[in, out]` row-major.
    let conv1d = |x: &[Vec<f64>], name: &str| -> Vec<Vec<f64>> {
        let wt = get(&format!("{name}.weight"));
        let b = get(&format!("{name}.bias"));
        let (n_in, n_out) = (wt.shape[0], wt.shape[1]);
        x.iter()
            .map(|xi| {
                (0..n_out)
                    .map(|o| {
                        f64::from(b.values[o])
                            + (0..n_in)
                                .map(|k| xi[k] * f64::from(wt.values[k * n_out + o]))
                                .sum::<f64>()
                    })
                    .collect()
            })
            .collect()
    };
    let layer_norm = |x: &[Vec<f64>], name: &str| -> Vec<Vec<f64>> {
        let g = get(&format!("{name}.weight"));
        let b = get(&format!("{name}.bias"));
        x.iter()
            .map(|xi| {
                let mean = xi.iter().sum::<f64>() / d as f64;
                let var = xi.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / d as f64;
                let inv = 1.0 / (var + eps).sqrt();
                (0..d)
                    .map(|k| (xi[k] - mean) * inv * f64::from(g.values[k]) + f64::from(b.values[k]))
                    .collect()
            })
            .collect()
    };
    let mut x: Vec<Vec<f64>> = tokens
        .iter()
        .enumerate()
        .map(|(p, &tok)| {
            let (e, pos) = (row("transformer.wte.weight", tok), row("transformer.wpe.weight", p));
            e.iter().zip(&pos).map(|(a, b)| a + b).collect()
        })
        .collect();
    for l in 0..n_layer {
        let h = format!("transformer.h.{l}");
        let qkv = conv1d(&layer_norm(&x, &format!("{h}.ln_1")), &format!("{h}.attn.c_attn"));
        let mut y = vec![vec![0.0; d]; t];
        for head in 0..n_head {
            let (q0, k0, v0) = (head * hd, d + head * hd, 2 * d + head * hd);
            for i in 0..t {
                let scores: Vec<f64> = (0..=i)
                    .map(|j| {
                        (0..hd).map(|c| qkv[i][q0 + c] * qkv[j][k0 + c]).sum::<f64>()
                            / (hd as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let z: f64 = e.iter().sum();
                for c in 0..hd {
                    y[i][head * hd + c] = (0..=i).map(|j| e[j] / z * qkv[j][v0 + c]).sum();
                }
            }
        }
        let a = conv1d(&y, &format!("{h}.attn.c_proj"));
        x = x
            .iter()
            .zip(&a)
            .map(|(xi, ai)| xi.iter().zip(ai).map(|(p, q)| p + q).collect())
            .collect();
        let hidden: Vec<Vec<f64>> =
            conv1d(&layer_norm(&x, &format!("{h}.ln_2")), &format!("{h}.mlp.c_fc"))
                .into_iter()
                .map(|r| r.into_iter().map(|u| 0.5 * u * (1.0 + erf(u / 2f64.sqrt()))).collect())
                .collect();
        let m = conv1d(&hidden, &format!("{h}.mlp.c_proj"));
        x = x
            .iter()
            .zip(&m)
            .map(|(xi, mi)| xi.iter().zip(mi).map(|(p, q)| p + q).collect())
            .collect();
    }
    let x = layer_norm(&x, "transformer.ln_f");
    let head = w.get("lm_head.weight").unwrap_or_else(|| get("transformer.wte.weight"));
    assert_eq!(head.shape, vec![v, d]);
    x.iter()
        .map(|xi| {
            (0..v)
                .map(|j| (0..d).map(|k| xi[k] * f64::from(head.values[j * d + k])).sum())
                .collect()
        })
        .collect()
}

fn max_abs_diff(a: &[Vec<f32>], b: &[Vec<f64>]) -> f64 {
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (f64::from(*p) - q).abs()))
        .fold(0.0, f64::max)
}

const TOKENS: [usize; 10] = [3, 17, 0, 36, 5, 5, 22, 9, 30, 1];

#[test]
fn f32_round_trip_is_exact_and_keeps_the_written_order() {
    let dir = temp_dir("f32");
    let path = dir.join("t.safetensors");
    // Not in name order: checkpoints are restored by position.
    let tensors = vec![
        NamedTensor {
            name: "z".into(),
            shape: vec![2, 3],
            values: vec![1.0, -0.0, 3.5e-42, f32::INFINITY, -7.25, 1e30],
        },
        NamedTensor { name: "10".into(), shape: vec![], values: vec![0.1] },
        NamedTensor { name: "9".into(), shape: vec![0, 4], values: vec![] },
        NamedTensor {
            name: "a".into(),
            shape: vec![4],
            values: vec![f32::MIN_POSITIVE, f32::MAX, -1.0, 0.333_333_34],
        },
    ];
    let meta = BTreeMap::from([("step".to_string(), "12".to_string()), ("k".into(), "v".into())]);
    write_safetensors(&path, &tensors, &meta).unwrap();
    let (back, back_meta) = read_safetensors(&path).unwrap();
    assert_eq!(back, tensors);
    assert_eq!(back_meta, meta);
    for (a, b) in tensors.iter().zip(&back) {
        let bits = |t: &NamedTensor| t.values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(a), bits(b), "{}", a.name);
    }
    // Without metadata the header has no __metadata__ entry; nothing is left beside the file.
    write_safetensors(&path, &tensors, &BTreeMap::new()).unwrap();
    assert!(read_safetensors(&path).unwrap().1.is_empty());
    let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("t.safetensors")]);
    // A shape that does not match the values, or a repeated name, is refused before writing.
    let bad = [NamedTensor { name: "w".into(), shape: vec![3], values: vec![1.0] }];
    let e = write_safetensors(&dir.join("bad.safetensors"), &bad, &meta).unwrap_err().to_string();
    assert!(e.contains("bad.safetensors") && e.contains("tensor w"), "{e}");
    let twice = [tensors[1].clone(), tensors[1].clone()];
    let e = write_safetensors(&dir.join("bad.safetensors"), &twice, &meta).unwrap_err();
    assert!(e.to_string().contains("two tensors are named 10"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bf16_and_f16_round_trips_stay_within_their_rounding() {
    let dir = temp_dir("half");
    let mut noise = Noise(7);
    let values: Vec<f32> = (0..4096).map(|i| noise.next() * 10f32.powi(i % 7 - 3)).collect();
    let tensors =
        vec![NamedTensor { name: "w".into(), shape: vec![64, 64], values: values.clone() }];
    for (dtype, rel, tag) in
        [(FloatDtype::Bf16, 2f32.powi(-8), "BF16"), (FloatDtype::F16, 2f32.powi(-11), "F16")]
    {
        let path = dir.join(format!("{dtype}.safetensors"));
        write_safetensors_as(&path, &tensors, &BTreeMap::new(), dtype).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap();
        assert!(header.contains(&format!("\"dtype\":\"{tag}\"")), "{header}");
        assert_eq!(bytes.len(), 8 + n + 2 * values.len());
        let (back, _) = read_safetensors(&path).unwrap();
        assert_eq!(back[0].shape, vec![64, 64]);
        for (x, y) in values.iter().zip(&back[0].values) {
            // Relative rounding error at most half an ulp; f16 values below its normal range
            // (6.1e-5) keep an absolute error of half the smallest subnormal step.
            let tol = if dtype == FloatDtype::F16 {
                (rel * x.abs()).max(2f32.powi(-25))
            } else {
                rel * x.abs()
            };
            assert!((x - y).abs() <= tol, "{dtype}: {x} read back as {y}");
        }
        // Rounding is idempotent: writing what was read gives the same bytes.
        write_safetensors_as(&path, &back, &BTreeMap::new(), dtype).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A safetensors file by hand: `entries` are (name, dtype, shape, bytes of data).
fn handmade(path: &Path, entries: &[(&str, &str, &[usize], usize)]) {
    let mut header = serde_json::Map::new();
    let mut offset = 0;
    for &(name, dtype, shape, bytes) in entries {
        header.insert(
            name.into(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + bytes]}),
        );
        offset += bytes;
    }
    let json = serde_json::Value::Object(header).to_string();
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(json.as_bytes());
    out.resize(out.len() + offset, 0);
    std::fs::write(path, out).unwrap();
}

#[test]
fn corrupt_and_truncated_files_are_refused_naming_the_file() {
    let dir = temp_dir("corrupt");
    let path = dir.join("model.safetensors");
    let t = [NamedTensor { name: "w".into(), shape: vec![2, 2], values: vec![1.0, 2.0, 3.0, 4.0] }];
    write_safetensors(&path, &t, &BTreeMap::new()).unwrap();
    let good = std::fs::read(&path).unwrap();
    let n = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let mut cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated data", good[..good.len() - 4].to_vec(), "offsets"),
        ("trailing bytes", [good.clone(), vec![0; 4]].concat(), "offsets"),
        ("truncated header", good[..8 + n / 2].to_vec(), "header"),
        ("shorter than the length", good[..5].to_vec(), "8-byte"),
        ("empty", Vec::new(), "8-byte"),
    ];
    let mut garbage = good.clone();
    garbage[8..8 + n].fill(b'#');
    cases.push(("garbage header", garbage, "JSON"));
    for (what, bytes, needle) in cases {
        std::fs::write(&path, &bytes).unwrap();
        let e = read_safetensors(&path).unwrap_err();
        assert!(matches!(e, SafetensorsError::Format { .. }), "{what}: {e:?}");
        let e = e.to_string();
        assert!(e.contains("model.safetensors") && e.contains(needle), "{what}: {e}");
    }
    // Offsets that do not hold the shape, or leave a gap, name the tensor.
    handmade(&path, &[("a", "F32", &[2], 8), ("b", "F32", &[3], 8)]);
    let e = read_safetensors(&path).unwrap_err().to_string();
    assert!(e.contains("model.safetensors") && e.contains("tensor b"), "{e}");
    // A missing file is an I/O error naming it.
    let e = read_safetensors(&dir.join("absent.safetensors")).unwrap_err();
    assert!(
        matches!(e, SafetensorsError::Io { .. }) && e.to_string().contains("absent.safetensors")
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn unsupported_dtypes_are_refused_naming_file_tensor_and_dtype() {
    let dir = temp_dir("dtype");
    let path = dir.join("ints.safetensors");
    for (dtype, bytes) in [("I64", 8), ("F64", 8), ("U8", 1)] {
        handmade(&path, &[("ok", "F32", &[2], 8), ("ids", dtype, &[3], 3 * bytes)]);
        let e = read_safetensors(&path).unwrap_err();
        assert!(matches!(e, SafetensorsError::UnsupportedDtype { .. }), "{e:?}");
        let e = e.to_string();
        assert!(
            e.contains("ints.safetensors") && e.contains("tensor ids") && e.contains(dtype),
            "{e}"
        );
    }
    // F16 and BF16 written by other tools are read (zeros here).
    handmade(&path, &[("h", "F16", &[3], 6), ("b", "BF16", &[1, 2], 4)]);
    let (t, _) = read_safetensors(&path).unwrap();
    assert_eq!((t[0].name.as_str(), &t[0].values), ("h", &vec![0.0; 3]));
    assert_eq!((t[1].name.as_str(), &t[1].shape), ("b", &vec![1, 2]));
    std::fs::remove_dir_all(&dir).ok();
}

/// The tensors of an export, by name.
fn exported(dir: &Path) -> HashMap<String, NamedTensor> {
    let (tensors, meta) = read_safetensors(&dir.join("model.safetensors")).unwrap();
    assert_eq!(meta.get("format").map(String::as_str), Some("pt"));
    tensors.into_iter().map(|t| (t.name.clone(), t)).collect()
}

#[test]
fn hf_export_computes_the_same_logits_in_hugging_face_conventions() {
    let dir = temp_dir("export");
    for (tie, bias) in [(false, true), (true, true), (false, false)] {
        let cfg = tiny(tie, bias);
        let model = perturbed(&cfg, 11 + u64::from(tie) + 2 * u64::from(bias), &dir);
        let out = dir.join(format!("hf-{tie}-{bias}"));
        let [weights, config] = export_hf_gpt2(&model, &cfg, &out, FloatDtype::F32).unwrap();
        assert_eq!(weights, out.join("model.safetensors"));
        let w = exported(&out);
        // Exactly GPT2LMHeadModel's keys; lm_head only when untied.
        let mut expected =
            vec!["transformer.wte.weight".to_string(), "transformer.wpe.weight".into()];
        for i in 0..cfg.n_layers {
            for part in ["ln_1", "attn.c_attn", "attn.c_proj", "ln_2", "mlp.c_fc", "mlp.c_proj"] {
                for p in ["weight", "bias"] {
                    expected.push(format!("transformer.h.{i}.{part}.{p}"));
                }
            }
        }
        expected.extend(["transformer.ln_f.weight".into(), "transformer.ln_f.bias".into()]);
        if !tie {
            expected.push("lm_head.weight".into());
        }
        let mut names: Vec<String> = w.keys().cloned().collect();
        names.sort();
        expected.sort();
        assert_eq!(names, expected);
        assert_eq!(w["transformer.h.1.attn.c_attn.weight"].shape, vec![16, 48]);
        assert_eq!(w["transformer.h.0.mlp.c_fc.weight"].shape, vec![16, 40]);
        assert_eq!(w["transformer.h.0.mlp.c_proj.weight"].shape, vec![40, 16]);
        assert_eq!(w["transformer.wpe.weight"].shape, vec![12, 16]);
        if !bias {
            assert!(w["transformer.h.0.attn.c_attn.bias"].values.iter().all(|&b| b == 0.0));
        }
        let c: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
        assert_eq!(c["model_type"], "gpt2");
        assert_eq!(c["activation_function"], "gelu");
        assert_eq!(c["tie_word_embeddings"], tie);
        assert_eq!(c["bias"], bias);
        assert_eq!(
            (c["n_embd"].as_u64(), c["n_layer"].as_u64(), c["n_head"].as_u64()),
            (Some(16), Some(2), Some(4))
        );
        assert_eq!(
            (c["n_positions"].as_u64(), c["n_inner"].as_u64(), c["vocab_size"].as_u64()),
            (Some(12), Some(40), Some(37))
        );
        assert_eq!(c["layer_norm_epsilon"].as_f64(), Some(1e-5));
        assert_eq!(c["torch_dtype"], "float32");

        let ours = our_logits(&model, &TOKENS);
        let reference = hf_reference_logits(&w, 2, 4, 1e-5, &TOKENS);
        let spread = ours.iter().flatten().fold(0f32, |m, v| m.max(v.abs()));
        let diff = max_abs_diff(&ours, &reference);
        println!("tie={tie} bias={bias}: max |Δlogit| = {diff:.2e} (logits up to {spread:.2})");
        assert!(spread > 0.5, "logits too small to test anything: {spread}");
        assert!(diff < 1e-4, "tie={tie} bias={bias}: {diff}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn hf_export_in_bf16_and_f16_rounds_the_f32_export() {
    let dir = temp_dir("export-half");
    let cfg = tiny(false, true);
    let model = perturbed(&cfg, 5, &dir);
    export_hf_gpt2(&model, &cfg, &dir.join("f32"), FloatDtype::F32).unwrap();
    let exact = exported(&dir.join("f32"));
    for (dtype, rel, name) in [
        (FloatDtype::Bf16, 2f32.powi(-8), "bfloat16"),
        (FloatDtype::F16, 2f32.powi(-11), "float16"),
    ] {
        let out = dir.join(name);
        export_hf_gpt2(&model, &cfg, &out, dtype).unwrap();
        let c: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap())
                .unwrap();
        assert_eq!(c["torch_dtype"], name);
        let half = exported(&out);
        assert_eq!(half.len(), exact.len());
        for (k, t) in &exact {
            for (x, y) in t.values.iter().zip(&half[k].values) {
                assert!(
                    (x - y).abs() <= (rel * x.abs()).max(2f32.powi(-25)),
                    "{name} {k}: {x} → {y}"
                );
            }
        }
        // The rounded weights still make nearly the same model.
        let diff = max_abs_diff(
            &our_logits(&model, &TOKENS),
            &hf_reference_logits(&half, 2, 4, 1e-5, &TOKENS),
        );
        println!("{name}: max |Δlogit| = {diff:.2e}");
        assert!(diff < 0.1, "{name}: {diff}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn what_gpt2_cannot_hold_is_refused_by_name() {
    let dir = temp_dir("refuse");
    let device = Device::flex();
    let llama = ModelConfig { arch: Arch::Llama, ..tiny(false, false) };
    let e = export_hf_gpt2(&llama.init(&device), &llama, &dir, FloatDtype::F32).unwrap_err();
    assert!(e.to_string().contains("arch = llama") && e.to_string().contains("rotary"), "{e}");
    let mup =
        ModelConfig { parameterization: Parameterization::Mup, base_width: 8, ..tiny(false, true) };
    let e = export_hf_gpt2(&mup.init(&device), &mup, &dir, FloatDtype::F32).unwrap_err();
    assert!(
        e.to_string().contains("parameterization = mup")
            && e.to_string().contains("1/sqrt(d_head)"),
        "{e}"
    );
    // A model that does not match the config it is exported with.
    let other = ModelConfig { d_model: 24, ..tiny(false, true) };
    let e = export_hf_gpt2(&other.init(&device), &tiny(false, true), &dir, FloatDtype::F32)
        .unwrap_err();
    assert!(e.to_string().contains("tok_emb.weight has shape [37, 24]"), "{e}");
    // Nothing was written for any of them.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    // --out naming a file: refused with the path and what the export needs; the file stays.
    let file = dir.join("model.bin");
    std::fs::write(&file, b"a user's file").unwrap();
    let cfg = tiny(false, true);
    let e = export_hf_gpt2(&cfg.init(&device), &cfg, &file, FloatDtype::F32).unwrap_err();
    assert!(
        e.to_string().contains("model.bin") && e.to_string().contains("is not a directory"),
        "{e}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"a user's file");
    std::fs::remove_dir_all(&dir).ok();
}

/// Python, with `SCALINGLAB_PYTHONPATH` (if set) in front of `PYTHONPATH`; the interpreter is
/// `SCALINGLAB_PYTHON` or `python3`.
fn python() -> std::process::Command {
    let exe = std::env::var("SCALINGLAB_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut cmd = std::process::Command::new(exe);
    if let Ok(extra) = std::env::var("SCALINGLAB_PYTHONPATH") {
        let joined = match std::env::var("PYTHONPATH") {
            Ok(p) if !p.is_empty() => format!("{extra}:{p}"),
            _ => extra,
        };
        cmd.env("PYTHONPATH", joined);
    }
    cmd
}

#[test]
fn transformers_loads_the_export_with_the_same_logits() {
    let dir = temp_dir("python");
    let mut dirs = Vec::new();
    // f32 exports to 1e-4; a bf16 export (its weights rounded) only loosely, to check that
    // transformers reads BF16 files.
    for (tie, bias, dtype, tolerance) in [
        (false, true, FloatDtype::F32, 1e-4),
        (true, false, FloatDtype::F32, 1e-4),
        (false, true, FloatDtype::Bf16, 0.1),
    ] {
        let cfg = tiny(tie, bias);
        let model = perturbed(&cfg, 21 + u64::from(tie), &dir);
        let out = dir.join(format!("hf-{tie}-{bias}-{dtype}"));
        export_hf_gpt2(&model, &cfg, &out, dtype).unwrap();
        let logits = our_logits(&model, &TOKENS);
        let json = serde_json::json!({"tokens": TOKENS, "logits": logits, "tolerance": tolerance});
        std::fs::write(out.join("scalinglab_logits.json"), json.to_string()).unwrap();
        dirs.push(out);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hf_check.py");
    let output = match python().arg(&script).args(&dirs).output() {
        Ok(o) => o,
        Err(e) => {
            println!("skipped: cannot run python3 ({e}); set SCALINGLAB_PYTHON to an interpreter");
            std::fs::remove_dir_all(&dir).ok();
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() == Some(3) {
        println!("{}", stdout.trim());
        println!(
            "(set SCALINGLAB_PYTHONPATH to a folder holding torch and transformers to run it)"
        );
        std::fs::remove_dir_all(&dir).ok();
        return;
    }
    println!("{stdout}");
    assert!(output.status.success(), "hf_check.py failed:\n{stdout}\n{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}
