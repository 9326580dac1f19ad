//! LLaMA blocks, muP and the key/value cache against independent truths: burn's own parameter
//! count, counts by hand, causality, a full forward pass, and muP's defining width scalings.

use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;
use scalinglab_model::{Arch, FlopCounting, KvCache, ModelConfig, ParamRole, Parameterization};

/// burn's random generator is global to the process and parameters are drawn lazily, so tests
/// of this file running at once would interleave their draws (the muP test compares two seeded
/// inits draw for draw). Every test holds this lock.
static SEEDING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn seeding() -> std::sync::MutexGuard<'static, ()> {
    SEEDING.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn llama(tie: bool, kv: usize) -> ModelConfig {
    ModelConfig {
        arch: Arch::Llama,
        vocab_size: 50,
        context: 12,
        d_model: 32,
        n_layers: 2,
        n_heads: 4,
        n_kv_heads: Some(kv),
        tie_embeddings: tie,
        ..Default::default()
    }
}

#[test]
fn llama_counts_match_the_built_module_and_hand_counts() {
    let _seeding = seeding();
    let device = Device::flex();
    for tie in [false, true] {
        for kv in [4, 2, 1] {
            let cfg = llama(tie, kv);
            let model = cfg.init(&device);
            assert_eq!(model.num_params() as u64, cfg.param_counts().total, "tie={tie} kv={kv}");
        }
    }
    // d = 32, h = 4, g = 2, e = 8, f = ceil(ceil(256/3)/8)·8 = 88, L = 2, V = 50, no biases.
    // per block: norms 64; attn 32·(4+4)·8 + 32·32 = 2048 + 1024 = 3072; SwiGLU 3·32·88 = 8448.
    // blocks 2·(64 + 3072 + 8448) = 23168; final norm 32 → 23200. Embeddings 2·50·32 = 3200.
    let cfg = llama(false, 2);
    assert_eq!(cfg.d_ff(), 88);
    let c = cfg.param_counts();
    assert_eq!((c.non_embedding, c.embedding, c.total), (23_200, 3_200, 26_400));
    // 6N + 6 L T d = 139200 + 4608; + 6 d V = 9600.
    assert_eq!(cfg.flops_per_token(FlopCounting::Kaplan), 143_808.0);
    assert_eq!(cfg.flops_per_token(FlopCounting::WithUnembedding), 153_408.0);
}

#[test]
fn llama_is_causal_and_starts_near_ln_vocab() {
    let _seeding = seeding();
    let device = Device::flex();
    device.seed(5);
    let model = llama(false, 2).init(&device);
    let a = Tensor::<2, Int>::from_ints([[1, 2, 3, 4, 5, 6, 7, 8]], &device);
    let b = Tensor::<2, Int>::from_ints([[1, 2, 3, 4, 9, 9, 9, 9]], &device);
    let diff = (model.forward(a.clone()).slice([0..1, 0..4])
        - model.forward(b).slice([0..1, 0..4]))
    .abs()
    .max()
    .into_scalar::<f32>();
    assert!(diff < 1e-6, "position < 4 saw the future: {diff}");
    let y = Tensor::<2, Int>::from_ints([[2, 3, 4, 5, 6, 7, 8, 9]], &device);
    let loss = model.loss(a, y).into_scalar::<f32>() as f64;
    // Logits have std ≈ 0.02·√32 ≈ 0.11 at init, so 8 targets scatter by about 0.04.
    assert!((loss - 50f64.ln()).abs() < 0.15, "loss {loss}");
}

/// Feeding a sequence in pieces through the key/value cache (a prefill, single tokens, and a
/// chunk that needs a causal mask offset by the cached length) gives the logits of one full
/// pass, for GPT-2, LLaMA with grouped-query attention and LLaMA with one key/value head.
#[test]
fn cached_logits_equal_a_full_forward_pass() {
    let _seeding = seeding();
    let device = Device::flex();
    for cfg in [
        ModelConfig { vocab_size: 50, context: 12, d_model: 32, n_heads: 4, ..Default::default() },
        llama(false, 2),
        llama(true, 1),
    ] {
        device.seed(9);
        let model = cfg.init(&device);
        let tokens = Tensor::<2, Int>::from_ints(
            [[3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8], [2, 7, 1, 8, 2, 8, 1, 8, 2, 8, 4, 5]],
            &device,
        );
        let full = model.forward(tokens.clone()); // [2, 12, V]
        // Prefill 5 tokens, then 1, then a chunk of 3 (masked within the chunk), then 3 by 1.
        let mut cache = KvCache::new();
        let mut pieces = Vec::new();
        for (a, b) in [(0, 5), (5, 6), (6, 9), (9, 10), (10, 11), (11, 12)] {
            pieces.push(model.forward_cached(tokens.clone().slice([0..2, a..b]), &mut cache));
        }
        assert_eq!(cache.len(), 12);
        let cached = Tensor::cat(pieces, 1);
        let diff = (full - cached).abs().max().into_scalar::<f32>();
        assert!(diff < 1e-5, "{}: cache vs full forward differ by {diff}", cfg.arch);
    }
}

/// Mean square of every parameter with a given role.
struct Stats<'a> {
    roles: &'a std::collections::HashMap<burn::module::ParamId, ParamRole>,
    hidden: Vec<f64>,
    seen: usize,
}

impl ModuleVisitor for Stats<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.seen += 1;
        if self.roles.get(&param.id) == Some(&ParamRole::Hidden) {
            let v = param.val().into_data().try_to_vec::<f32>().unwrap();
            let ms = v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() / v.len() as f64;
            self.hidden.push(ms);
        }
    }
}

#[test]
fn mup_scales_hidden_init_and_learning_rates_with_width() {
    let _seeding = seeding();
    let device = Device::flex();
    let at = |width: usize, p: Parameterization| ModelConfig {
        arch: Arch::Llama,
        vocab_size: 64,
        d_model: width,
        n_heads: width / 16,
        n_layers: 1,
        parameterization: p,
        base_width: 64,
        ..Default::default()
    };
    // Every parameter has a role.
    let base = at(64, Parameterization::Mup);
    device.seed(1);
    let model = base.init(&device);
    let roles = model.param_roles();
    let mut s = Stats { roles: &roles, hidden: vec![], seen: 0 };
    model.visit(&mut s);
    assert_eq!(roles.len(), s.seen);
    // Hidden matrices: variance init_std²/m, so at 4× the base width a quarter of SP's.
    let mean_sq = |cfg: &ModelConfig| {
        device.seed(2);
        let m = cfg.init(&device);
        let r = m.param_roles();
        let mut s = Stats { roles: &r, hidden: vec![], seen: 0 };
        m.visit(&mut s);
        s.hidden[0] // the first block's fused q/k/v, drawn with the plain hidden std
    };
    let sp = mean_sq(&at(256, Parameterization::Sp));
    let mup = mean_sq(&at(256, Parameterization::Mup));
    assert!((sp / 0.02f64.powi(2) - 1.0).abs() < 0.02, "SP variance {sp}");
    assert!((mup / sp - 0.25).abs() < 0.01, "muP/SP variance ratio {}", mup / sp);
    // At the base width muP draws like SP.
    assert!(
        (mean_sq(&at(64, Parameterization::Mup)) / mean_sq(&at(64, Parameterization::Sp)) - 1.0)
            .abs()
            < 1e-9
    );
    // Learning-rate multipliers and logit/attention scales.
    let wide = at(256, Parameterization::Mup);
    assert_eq!(wide.width_multiplier(), 4.0);
    assert_eq!(wide.lr_multiplier(ParamRole::Hidden), 0.25);
    assert_eq!(wide.lr_multiplier(ParamRole::Output), 1.0);
    assert_eq!(wide.lr_multiplier(ParamRole::Embedding), 1.0);
    assert_eq!(wide.logit_multiplier(), 0.25);
    assert_eq!(wide.attention_scale(), 1.0 / 16.0);
    let sp_wide = at(256, Parameterization::Sp);
    assert_eq!(sp_wide.lr_multiplier(ParamRole::Hidden), 1.0);
    assert_eq!(sp_wide.attention_scale(), 0.25);
}

#[test]
fn bad_llama_configs_name_the_field() {
    let _seeding = seeding();
    let e = ModelConfig { n_kv_heads: Some(3), ..llama(false, 2) }.validate().unwrap_err();
    assert!(e.to_string().contains("n_kv_heads = 3"), "{e}");
    let e = ModelConfig { n_kv_heads: Some(2), ..Default::default() }.validate().unwrap_err();
    assert!(e.to_string().contains("LLaMA"), "{e}");
    let e = ModelConfig { n_heads: 32, ..llama(false, 32) }.validate().unwrap_err();
    assert!(e.to_string().contains("even"), "{e}");
}

#[test]
fn cached_sampling_matches_re_encoding_and_is_reproducible() {
    let _seeding = seeding();
    use scalinglab_model::SampleConfig;
    let device = Device::flex();
    for cfg in [
        ModelConfig {
            vocab_size: 50,
            context: 12,
            d_model: 32,
            n_heads: 4,
            init_std: 0.5,
            ..Default::default()
        },
        ModelConfig { init_std: 0.5, ..llama(false, 2) },
    ] {
        device.seed(4);
        let model = cfg.init(&device);
        let prompts = vec![vec![1, 2, 3], vec![4, 5, 6], vec![7, 8, 9]];
        let s = SampleConfig { temperature: 1.0, top_k: Some(20), seed: 7 };
        // Within the context both paths see the same prefixes, so they draw the same tokens.
        let cached = model.generate(&prompts, 9, &s, &device);
        let naive = model.generate_uncached(&prompts, 9, &s, &device);
        assert_eq!(cached, naive, "{}", cfg.arch);
        assert!(
            cached.iter().all(|r| r.len() == 12
                && r[..3] == prompts[cached.iter().position(|x| x == r).unwrap()][..])
        );
        // Same seed, same tokens; a row's tokens do not depend on the rest of the batch.
        assert_eq!(model.generate(&prompts, 9, &s, &device), cached);
        assert_eq!(model.generate(&prompts[..1], 9, &s, &device)[0], cached[0]);
        let other = model.generate(&prompts, 9, &SampleConfig { seed: 8, ..s.clone() }, &device);
        assert_ne!(other, cached);
        // Past the context the cache is rebuilt and generation goes on.
        let long = model.generate(&prompts, 40, &s, &device);
        assert!(long.iter().all(|r| r.len() == 43 && r.iter().all(|&t| t < 50)));
    }
}

#[test]
fn safetensors_export_round_trips_every_parameter() {
    let _seeding = seeding();
    let device = Device::flex();
    device.seed(3);
    let cfg = llama(false, 2);
    let model = cfg.init(&device);
    let dir = std::env::temp_dir().join(format!("scalinglab-st-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.safetensors");
    let meta = [("arch".to_string(), "llama".to_string())].into_iter().collect();
    model.export_safetensors(&path, &meta).unwrap();
    let (tensors, read_meta) = scalinglab_model::read_safetensors(&path).unwrap();
    assert_eq!(read_meta, meta);
    let total: usize = tensors.iter().map(|t| t.values.len()).sum();
    assert_eq!(total as u64, cfg.param_counts().total);
    let names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    assert!(names.contains(&"blocks.1.mlp.gate.weight"), "{names:?}");
    let emb = tensors.iter().find(|t| t.name == "tok_emb.weight").unwrap();
    assert_eq!(emb.shape, vec![50, 32]);
    // Loading gives the same logits; a model of another shape is refused, naming the tensor.
    let loaded = cfg.load_safetensors(&path, &device).unwrap();
    let x = Tensor::<2, Int>::from_ints([[1, 2, 3, 4]], &device);
    let d = (model.forward(x.clone()) - loaded.forward(x)).abs().max().into_scalar::<f32>();
    assert_eq!(d, 0.0);
    let other = ModelConfig { d_model: 48, n_heads: 4, ..cfg.clone() };
    let e = other.load_safetensors(&path, &device).unwrap_err().to_string();
    assert!(e.contains("tok_emb.weight has shape [50, 32]"), "{e}");
    // A truncated file is an error naming the file.
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
    let e = scalinglab_model::read_safetensors(&path).unwrap_err().to_string();
    assert!(e.contains("model.safetensors") && e.contains("offsets"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}
