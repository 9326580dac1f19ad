//! Slurm job arrays: a script that trains a sweep's runs as array tasks (`--only`), each
//! task one run or a pack of several small ones, with the partition, time limit, GPUs, CPUs,
//! memory and account a cluster asks for. After the array, `--collect` merges and fits.
//!
//! Preemption: `#SBATCH --requeue` lets Slurm put a preempted task back in the queue; the
//! task's runs then resume from their last checkpoint (`train.checkpoint_every` steps), as any
//! killed run does, so a requeued array ends with the results of one that never stopped.

use std::path::Path;

use crate::error::invalid;
use crate::{ExperimentConfig, TrainingError};

/// What the cluster asks of each array task. Every field is checked before a script is
/// written ([`SlurmOptions::validate`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlurmOptions {
    /// `--partition`, if the cluster needs one.
    pub partition: Option<String>,
    /// `--time` limit per task, in Slurm's forms (`MM`, `MM:SS`, `HH:MM:SS`, `D-HH`,
    /// `D-HH:MM`, `D-HH:MM:SS`).
    pub time: Option<String>,
    /// GPUs per task (`--gpus-per-task`); 0 asks for none.
    pub gpus: u32,
    /// CPUs per task (`--cpus-per-task`). Default 2.
    pub cpus: u32,
    /// Memory per task (`--mem`), a number with an optional unit K, M, G or T.
    pub mem: Option<String>,
    /// `--account` to charge.
    pub account: Option<String>,
    /// Runs per array task: small runs packed together spend less time in the queue.
    /// Default 1.
    pub runs_per_task: usize,
}

impl Default for SlurmOptions {
    fn default() -> Self {
        Self {
            partition: None,
            time: None,
            gpus: 0,
            cpus: 2,
            mem: None,
            account: None,
            runs_per_task: 1,
        }
    }
}

impl SlurmOptions {
    /// Checks every field; the error names the flag and the value.
    pub fn validate(&self) -> Result<(), TrainingError> {
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ','))
        };
        for (flag, v) in [("--partition", &self.partition), ("--account", &self.account)] {
            if let Some(v) = v
                && !name_ok(v)
            {
                return Err(invalid(
                    flag,
                    format!("{v:?}"),
                    "must be a Slurm name: letters, digits, '_', '-', '.', ','",
                ));
            }
        }
        if let Some(t) = &self.time
            && !time_ok(t)
        {
            return Err(invalid(
                "--time",
                format!("{t:?}"),
                "must be a Slurm time: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS",
            ));
        }
        if let Some(m) = &self.mem {
            let digits = m.trim_end_matches(['K', 'M', 'G', 'T']);
            if digits.is_empty()
                || !digits.chars().all(|c| c.is_ascii_digit())
                || m.len() > digits.len() + 1
            {
                return Err(invalid(
                    "--mem",
                    format!("{m:?}"),
                    "must be a number with an optional unit K, M, G or T (e.g. 8G)",
                ));
            }
        }
        if self.cpus == 0 {
            return Err(invalid("--cpus", 0, "a task needs at least one CPU"));
        }
        if self.runs_per_task == 0 {
            return Err(invalid("--runs-per-task", 0, "must be at least 1"));
        }
        Ok(())
    }
}

/// Whether `t` is one of Slurm's time forms.
fn time_ok(t: &str) -> bool {
    let nums = |s: &str, max_parts: usize| {
        let parts: Vec<&str> = s.split(':').collect();
        parts.len() <= max_parts
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()))
    };
    match t.split_once('-') {
        Some((days, rest)) => {
            !days.is_empty() && days.bytes().all(|b| b.is_ascii_digit()) && nums(rest, 3)
        }
        None => nums(t, 3),
    }
}

/// A Slurm job-array script that trains every run of `cfg` (read from `config`) into `dir`:
/// task `i` trains runs `i·k … i·k + k − 1` (`k = runs_per_task`) with `--only`; after the
/// array, `--collect` merges and fits.
///
/// # Errors
/// An invalid option (naming the flag), or a grid that cannot be planned.
pub fn slurm_script(
    cfg: &ExperimentConfig,
    config: &Path,
    dir: &Path,
    binary: &str,
    opts: &SlurmOptions,
) -> Result<String, TrainingError> {
    opts.validate()?;
    let n = crate::sweep::plan(cfg)?.len();
    let k = opts.runs_per_task;
    let tasks = n.div_ceil(k).max(1);
    let q = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', r"'\''"));
    let mut sbatch = vec![
        format!("--job-name=scalinglab-{}", cfg.name),
        format!("--array=0-{}", tasks - 1),
        format!("--cpus-per-task={}", opts.cpus),
        format!("--output={}/slurm-%A_%a.out", dir.display()),
        "--requeue".to_string(),
    ];
    for (flag, v) in [
        ("partition", &opts.partition),
        ("time", &opts.time),
        ("mem", &opts.mem),
        ("account", &opts.account),
    ] {
        if let Some(v) = v {
            sbatch.push(format!("--{flag}={v}"));
        }
    }
    if opts.gpus > 0 {
        sbatch.push(format!("--gpus-per-task={}", opts.gpus));
    }
    let sbatch: String = sbatch.iter().map(|l| format!("#SBATCH {l}\n")).collect();
    let device = if opts.gpus > 0 { "auto" } else { "flex" };
    let per_task =
        if k == 1 { "one run per task".to_string() } else { format!("{k} runs per task") };
    Ok(format!(
        "#!/bin/bash\n\
         # Trains the {n} runs of experiment `{name}` as a Slurm job array of {tasks} task(s), \
         {per_task}.\n\
         # Submit:   sbatch {script}\n\
         # Then:     {binary} run {config} --out {dir} --collect   (merges the runs, fits, reports)\n\
         # Progress: {binary} status {dir}\n\
         # A preempted task is requeued (--requeue) and its runs resume from their checkpoints.\n\
         # Any other scheduler works the same way: run `--only INDEX` for INDEX in 0..{last}, e.g.\n\
         #   seq 0 {last} | parallel -j 4 {binary} run {config} --out {dir} --only {{}} --quiet --jobs 1\n\
         {sbatch}\
         set -euo pipefail\n\
         first=$(( SLURM_ARRAY_TASK_ID * {k} ))\n\
         last=$(( first + {k} - 1 < {last} ? first + {k} - 1 : {last} ))\n\
         {binary} run {config} --out {dir} --only \"$(seq -s, \"$first\" \"$last\")\" --quiet --jobs 1 \
         --device {device}\n",
        name = cfg.name,
        script = q(&dir.join("sweep.slurm")),
        config = q(config),
        dir = q(dir),
        last = n.saturating_sub(1),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_become_sbatch_lines_and_bad_ones_are_refused_naming_the_flag() {
        let mut cfg = ExperimentConfig::quickstart();
        cfg.sweep.lr_check = None;
        let runs = crate::sweep::plan(&cfg).unwrap().len();
        let opts = SlurmOptions {
            partition: Some("gpu".into()),
            time: Some("0-02:00:00".into()),
            gpus: 1,
            cpus: 8,
            mem: Some("16G".into()),
            account: Some("proj_42".into()),
            runs_per_task: 4,
        };
        let s =
            slurm_script(&cfg, Path::new("/c.toml"), Path::new("/runs/q"), "sl", &opts).unwrap();
        for line in [
            "#SBATCH --partition=gpu",
            "#SBATCH --time=0-02:00:00",
            "#SBATCH --gpus-per-task=1",
            "#SBATCH --cpus-per-task=8",
            "#SBATCH --mem=16G",
            "#SBATCH --account=proj_42",
            "#SBATCH --requeue",
            "--device auto",
        ] {
            assert!(s.contains(line), "{line} missing from\n{s}");
        }
        assert!(s.contains(&format!("#SBATCH --array=0-{}", runs.div_ceil(4) - 1)), "{s}");
        let plain = slurm_script(
            &cfg,
            Path::new("/c.toml"),
            Path::new("/runs/q"),
            "sl",
            &SlurmOptions::default(),
        )
        .unwrap();
        assert!(plain.contains(&format!("--array=0-{}", runs - 1)) && !plain.contains("--gpus"));
        assert!(plain.contains("--device flex"));
        for (opts, flag) in [
            (SlurmOptions { partition: Some("a b".into()), ..Default::default() }, "--partition"),
            (SlurmOptions { account: Some("x;rm".into()), ..Default::default() }, "--account"),
            (SlurmOptions { time: Some("2h".into()), ..Default::default() }, "--time"),
            (SlurmOptions { time: Some("1-".into()), ..Default::default() }, "--time"),
            (SlurmOptions { mem: Some("16GB".into()), ..Default::default() }, "--mem"),
            (SlurmOptions { mem: Some("G".into()), ..Default::default() }, "--mem"),
            (SlurmOptions { cpus: 0, ..Default::default() }, "--cpus"),
            (SlurmOptions { runs_per_task: 0, ..Default::default() }, "--runs-per-task"),
        ] {
            let e = opts.validate().unwrap_err().to_string();
            assert!(e.contains(flag), "{flag}: {e}");
        }
        for t in ["30", "30:00", "12:30:00", "2-12", "2-12:30", "2-12:30:00"] {
            assert!(time_ok(t), "{t}");
        }
    }
}
