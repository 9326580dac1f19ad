//! The learning-rate check: whether the rate a sweep chose sits at an edge of the rates tried.
//!
//! Runs that share everything but the peak learning rate (the same model, `N`, `D` and seed)
//! form one check. The rate with the lowest eval loss wins (a diverged run loses to every
//! finished one). With three or more rates the winner is either *interior* — the loss rises on
//! both sides, so the optimum was bracketed — or at the *lower* or *upper edge*, where a rate
//! beyond the grid might do better and the sweep's losses may be above what the model can
//! reach. With two rates nothing is bracketed and the check is "not testable".

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::records::{RunRecord, RunStatus};

/// Where the best rate of a check lies among the rates tried.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum LrPosition {
    /// Neither the smallest nor the largest rate won: the optimum is bracketed.
    Interior,
    /// The smallest rate won: a smaller one might do better.
    LowerEdge,
    /// The largest rate won: a larger one might do better.
    UpperEdge,
    /// Fewer than three rates finished or were tried (the reason says which).
    NotTestable(String),
}

impl std::fmt::Display for LrPosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LrPosition::Interior => write!(f, "interior: the optimum is bracketed"),
            LrPosition::LowerEdge => write!(f, "at the lower edge: a smaller rate may do better"),
            LrPosition::UpperEdge => write!(f, "at the upper edge: a larger rate may do better"),
            LrPosition::NotTestable(why) => write!(f, "not testable: {why}"),
        }
    }
}

/// One rate of a check: its peak learning rate and the run's eval loss (`None`: diverged).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LrTrial {
    /// The run.
    pub run_id: String,
    /// Peak learning rate.
    pub lr: f64,
    /// Held-out loss, or `None` for a diverged run.
    pub eval_loss: Option<f64>,
}

/// The runs of one cell that differ only in their learning rate, and the verdict on them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LrCheckResult {
    /// Non-embedding parameters of the cell.
    pub n: u64,
    /// Training tokens of the cell.
    pub d: u64,
    /// Seed shared by the runs.
    pub seed: u64,
    /// The rates, ascending.
    pub trials: Vec<LrTrial>,
    /// The winning rate (lowest eval loss), if any run finished.
    pub best_lr: Option<f64>,
    /// Eval loss of the runner-up minus the winner's (how clearly the winner won), if two or
    /// more runs finished.
    pub margin: Option<f64>,
    /// Where the winner lies.
    pub position: LrPosition,
}

/// Every check in `records`: groups of two or more runs with the same architecture, width,
/// depth, `N`, `D` and seed but different peak learning rates.
pub fn lr_checks(records: &[RunRecord]) -> Vec<LrCheckResult> {
    type Key = (String, usize, usize, u64, u64, u64);
    let mut groups: BTreeMap<Key, Vec<&RunRecord>> = BTreeMap::new();
    for r in records {
        let key = (r.arch.clone(), r.d_model, r.n_layers, r.params_non_embedding, r.tokens, r.seed);
        groups.entry(key).or_default().push(r);
    }
    let mut out = Vec::new();
    for ((_, _, _, n, d, seed), mut runs) in groups {
        runs.sort_by(|a, b| a.lr.total_cmp(&b.lr));
        runs.dedup_by(|a, b| a.lr == b.lr);
        if runs.len() < 2 {
            continue;
        }
        let trials: Vec<LrTrial> = runs
            .iter()
            .map(|r| LrTrial {
                run_id: r.run_id.clone(),
                lr: r.lr,
                eval_loss: (r.status == RunStatus::Ok && r.eval_loss.is_finite())
                    .then_some(r.eval_loss),
            })
            .collect();
        out.push(judge(n, d, seed, trials));
    }
    out
}

fn judge(n: u64, d: u64, seed: u64, trials: Vec<LrTrial>) -> LrCheckResult {
    let mut finished: Vec<(usize, f64)> =
        trials.iter().enumerate().filter_map(|(i, t)| t.eval_loss.map(|l| (i, l))).collect();
    finished.sort_by(|a, b| a.1.total_cmp(&b.1));
    let best = finished.first().copied();
    let margin = (finished.len() >= 2).then(|| finished[1].1 - finished[0].1);
    let position = match best {
        None => LrPosition::NotTestable("no run of the check finished".into()),
        Some(_) if trials.len() < 3 => LrPosition::NotTestable(format!(
            "{} rates tried; bracketing an optimum needs three or more",
            trials.len()
        )),
        Some((0, _)) => LrPosition::LowerEdge,
        Some((i, _)) if i + 1 == trials.len() => LrPosition::UpperEdge,
        Some(_) => LrPosition::Interior,
    };
    LrCheckResult { n, d, seed, best_lr: best.map(|(i, _)| trials[i].lr), margin, position, trials }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(lr: f64, loss: Option<f64>) -> LrTrial {
        LrTrial { run_id: format!("lr{lr}"), lr, eval_loss: loss }
    }

    #[test]
    fn the_winner_is_placed_among_the_rates() {
        let c =
            judge(1, 2, 0, vec![trial(1.0, Some(2.5)), trial(2.0, Some(2.4)), trial(4.0, None)]);
        assert_eq!(
            c.position,
            LrPosition::Interior,
            "a diverged largest rate brackets the optimum"
        );
        assert_eq!(c.best_lr, Some(2.0));
        assert!((c.margin.unwrap() - 0.1).abs() < 1e-12);
        let c = judge(
            1,
            2,
            0,
            vec![trial(1.0, Some(2.3)), trial(2.0, Some(2.4)), trial(4.0, Some(2.5))],
        );
        assert_eq!(c.position, LrPosition::LowerEdge);
        let c = judge(
            1,
            2,
            0,
            vec![trial(1.0, Some(2.6)), trial(2.0, Some(2.4)), trial(4.0, Some(2.3))],
        );
        assert_eq!(c.position, LrPosition::UpperEdge);
        let c = judge(1, 2, 0, vec![trial(1.0, Some(2.6)), trial(2.0, Some(2.4))]);
        assert!(matches!(c.position, LrPosition::NotTestable(_)));
        let c = judge(1, 2, 0, vec![trial(1.0, None), trial(2.0, None), trial(4.0, None)]);
        assert!(matches!(c.position, LrPosition::NotTestable(_)));
        assert_eq!(c.best_lr, None);
    }
}
