//! The muP coordinate check (Yang et al. 2022, Tensor Programs V, §D.1 and figure 5): train
//! models of several widths for a few steps at one learning rate and measure the typical size
//! of each layer's output coordinates (their root mean square). Under muP the sizes stay flat
//! across widths; under standard parameterization the hidden layers and logits grow with width,
//! because Adam moves every weight by about the learning rate whatever the fan-in.

use burn::optim::GradientsParams;
use burn::prelude::*;
use scalinglab_data::{TokenCorpus, WalkConfig};
use scalinglab_model::{Arch, ModelConfig, Parameterization};
use serde::{Deserialize, Serialize};

use crate::run::init_seeded;
use crate::{AdamW, TrainConfig, TrainingError};

/// What to check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CoordCheckConfig {
    /// Architecture. Default: `gpt2`.
    pub arch: Arch,
    /// Widths. Default: [32, 64, 128, 256].
    pub widths: Vec<usize>,
    /// Head width (heads = width / head_dim). Default: 16.
    pub head_dim: usize,
    /// Blocks. Default: 2.
    pub n_layers: usize,
    /// muP's base width. Default: 32.
    pub base_width: usize,
    /// Training steps before measuring. Default: 10.
    pub steps: usize,
    /// Learning rate (the same at every width, as a transferred muP rate would be). Default: 1e-2.
    pub lr: f64,
    /// Sequences in the one training batch. Default: 1.
    pub batch_size: usize,
    /// Context. Default: 32.
    pub context: usize,
    /// Seed. Default: 0.
    pub seed: u64,
}

impl Default for CoordCheckConfig {
    fn default() -> Self {
        Self {
            arch: Arch::Gpt2,
            widths: vec![32, 64, 128, 256],
            head_dim: 16,
            n_layers: 2,
            base_width: 32,
            steps: 10,
            lr: 1e-2,
            batch_size: 1,
            context: 32,
            seed: 0,
        }
    }
}

/// One measurement: the RMS of a layer's output coordinates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CoordRow {
    /// `sp` or `mup`.
    pub parameterization: Parameterization,
    /// Model width.
    pub width: usize,
    /// Steps trained before measuring (0 = at initialisation).
    pub step: usize,
    /// Layer name: `embedding`, `block i`, `logits`.
    pub layer: String,
    /// Root mean square of the layer's output coordinates on a fixed batch.
    pub rms: f64,
}

/// Growth of each layer's RMS with width: the slope of log RMS against log width at the last
/// step, per parameterization and layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CoordSlope {
    /// `sp` or `mup`.
    pub parameterization: Parameterization,
    /// Layer name.
    pub layer: String,
    /// d log RMS / d log width (least squares over the widths).
    pub slope: f64,
}

impl CoordCheckConfig {
    /// Checks every field before anything is built or trained.
    ///
    /// # Errors
    /// [`TrainingError::Invalid`] naming the flag and its value.
    pub fn validate(&self) -> Result<(), TrainingError> {
        use crate::error::invalid;
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(invalid("--lr", self.lr, "must be a finite number above 0"));
        }
        if self.steps == 0 {
            return Err(invalid("--steps", 0, "must be at least 1"));
        }
        if self.widths.len() < 2 {
            return Err(invalid(
                "--widths",
                format!("{:?}", self.widths),
                "needs at least two widths (the check is a slope against width)",
            ));
        }
        if let Some(w) = self.widths.iter().find(|&&w| w == 0 || w % self.head_dim.max(1) != 0) {
            return Err(invalid(
                "--widths",
                w,
                format!("must be a positive multiple of the head width {}", self.head_dim),
            ));
        }
        if self.batch_size == 0 || self.context == 0 || self.n_layers == 0 {
            return Err(invalid(
                "coord-check",
                format!(
                    "batch {} context {} layers {}",
                    self.batch_size, self.context, self.n_layers
                ),
                "batch size, context and layers must each be at least 1",
            ));
        }
        Ok(())
    }
}

/// Runs the check for SP and muP; returns every measurement and the slopes.
///
/// # Errors
/// An invalid width/head combination, or a data error.
pub fn coord_check(
    cfg: &CoordCheckConfig,
    device: &Device,
) -> Result<(Vec<CoordRow>, Vec<CoordSlope>), TrainingError> {
    cfg.validate()?;
    let chain = WalkConfig::default().build()?;
    let vocab = chain.num_states();
    let train = TokenCorpus::from_walks(&chain, cfg.context, cfg.batch_size, cfg.seed);
    let probe = TokenCorpus::from_walks(&chain, cfg.context, cfg.batch_size, cfg.seed + 1);
    let ad = device.clone().autodiff();
    let batch = |c: &TokenCorpus, idx: &[usize], dev: &Device| {
        let (x, y) = c.batch(idx);
        let n = idx.len();
        let t = |v: Vec<i64>| {
            Tensor::<1, Int>::from_data(TensorData::new(v, [n * cfg.context]), dev)
                .reshape([n, cfg.context])
        };
        (t(x), t(y))
    };
    let probe_idx: Vec<usize> = (0..cfg.batch_size).collect();
    let mut rows = Vec::new();
    for p in [Parameterization::Sp, Parameterization::Mup] {
        for &w in &cfg.widths {
            let model_cfg = ModelConfig {
                arch: cfg.arch,
                vocab_size: vocab,
                context: cfg.context,
                d_model: w,
                n_layers: cfg.n_layers,
                n_heads: (w / cfg.head_dim).max(1),
                parameterization: p,
                base_width: cfg.base_width,
                ..Default::default()
            };
            model_cfg.validate()?;
            let tc = TrainConfig { lr: cfg.lr, weight_decay: 0.0, ..Default::default() };
            let mut model = init_seeded(&model_cfg, &ad, cfg.seed);
            let mut optim = AdamW::new(&tc, &model);
            let mut measure = |model: &scalinglab_model::Gpt, step: usize| {
                let (x, _) = batch(&probe, &probe_idx, &ad);
                for (layer, a) in model.activations(x) {
                    let rms = a.square().mean().sqrt().into_scalar::<f32>() as f64;
                    rows.push(CoordRow { parameterization: p, width: w, step, layer, rms });
                }
            };
            measure(&model, 0);
            // One fixed batch, as the `mup` package's check: its tokens span a space of far
            // lower dimension than the width, the regime muP's infinite-width limit describes.
            let idx: Vec<usize> = (0..cfg.batch_size).collect();
            for _ in 0..cfg.steps {
                let (x, y) = batch(&train, &idx, &ad);
                let grads = GradientsParams::from_grads(model.loss(x, y).backward(), &model);
                model = optim.step(cfg.lr, model, grads).0;
            }
            measure(&model, cfg.steps);
        }
    }
    let mut slopes = Vec::new();
    for p in [Parameterization::Sp, Parameterization::Mup] {
        let layers: Vec<String> = rows
            .iter()
            .filter(|r| r.parameterization == p && r.width == cfg.widths[0] && r.step == cfg.steps)
            .map(|r| r.layer.clone())
            .collect();
        for layer in layers {
            let pts: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| r.parameterization == p && r.step == cfg.steps && r.layer == layer)
                .map(|r| ((r.width as f64).ln(), r.rms.ln()))
                .collect();
            let n = pts.len() as f64;
            let (mx, my) = (
                pts.iter().map(|p| p.0).sum::<f64>() / n,
                pts.iter().map(|p| p.1).sum::<f64>() / n,
            );
            let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
            let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
            slopes.push(CoordSlope { parameterization: p, layer, slope: sxy / sxx });
        }
    }
    Ok((rows, slopes))
}

/// Runs [`coord_check`] and writes `coord_check.csv`, `coord_check_sp.svg` and
/// `coord_check_mup.svg` (RMS against width, one curve per layer, log-log) into `out_dir`;
/// returns a text summary with each layer's slope and a verdict.
///
/// # Errors
/// As [`coord_check`], or if the files cannot be written.
pub fn coord_check_command(
    cfg: &CoordCheckConfig,
    device: &Device,
    out_dir: &std::path::Path,
) -> Result<String, TrainingError> {
    use scalinglab_analysis::{Curve, CurveStyle, PlotSpec, plot_svg};
    let (rows, slopes) = coord_check(cfg, device)?;
    std::fs::create_dir_all(out_dir)
        .map_err(|source| TrainingError::Write { path: out_dir.to_path_buf(), source })?;
    let mut csv = String::from("parameterization,width,step,layer,rms\n");
    for r in &rows {
        csv.push_str(&format!(
            "{},{},{},{},{}\n",
            r.parameterization, r.width, r.step, r.layer, r.rms
        ));
    }
    let csv_path = out_dir.join("coord_check.csv");
    crate::write_atomic(&csv_path, csv.as_bytes())?;
    let layers: Vec<String> = slopes
        .iter()
        .filter(|s| s.parameterization == Parameterization::Sp)
        .map(|s| s.layer.clone())
        .collect();
    for p in [Parameterization::Sp, Parameterization::Mup] {
        let curves = layers
            .iter()
            .map(|layer| Curve {
                label: format!(
                    "{layer} (slope {:+.2})",
                    slopes
                        .iter()
                        .find(|s| s.parameterization == p && &s.layer == layer)
                        .map_or(f64::NAN, |s| s.slope)
                ),
                points: rows
                    .iter()
                    .filter(|r| r.parameterization == p && r.step == cfg.steps && &r.layer == layer)
                    .map(|r| (r.width as f64, r.rms))
                    .collect(),
                style: CurveStyle::Line,
            })
            .collect();
        let spec = PlotSpec {
            title: format!(
                "Coordinate check, {} {}: {} Adam steps at lr {}",
                cfg.arch,
                p.to_string().to_uppercase(),
                cfg.steps,
                cfg.lr
            ),
            x_label: "width d_model".into(),
            y_label: "RMS of the layer's output coordinates".into(),
            log_x: true,
            log_y: true,
            curves,
            hlines: vec![],
        };
        plot_svg(&out_dir.join(format!("coord_check_{p}.svg")), &spec)?;
    }
    let mut text = format!(
        "Coordinate check ({}, widths {:?}, {} steps at lr {} on one batch, base width {}):\n\
         slope of log RMS against log width after training (0 = flat)\n\n  {:<12} {:>8} {:>8}\n",
        cfg.arch, cfg.widths, cfg.steps, cfg.lr, cfg.base_width, "layer", "SP", "muP"
    );
    let slope = |p, l: &str| {
        slopes
            .iter()
            .find(|s| s.parameterization == p && s.layer == l)
            .map_or(f64::NAN, |s| s.slope)
    };
    let mut worst_mup: f64 = 0.0;
    let mut worst_sp: f64 = 0.0;
    for l in &layers {
        let (sp, mup) = (slope(Parameterization::Sp, l), slope(Parameterization::Mup, l));
        if l != "embedding" {
            worst_mup = worst_mup.max(mup.abs());
            worst_sp = worst_sp.max(sp);
        }
        text.push_str(&format!("  {l:<12} {sp:>+8.2} {mup:>+8.2}\n"));
    }
    text.push_str(&format!(
        "\n{}: under muP every layer's slope is within ±{worst_mup:.2}; under SP the steepest grows as width^{worst_sp:.2}.\n\
         Files: {}, coord_check_sp.svg, coord_check_mup.svg\n",
        if worst_mup < 0.25 && worst_sp > 0.5 { "PASS" } else { "CHECK" },
        csv_path.display()
    ));
    Ok(text)
}
