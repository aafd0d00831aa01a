//! The episode schedule: which document is trained in each episode.
//!
//! The whole schedule is drawn up front from the seed, so an interrupted run that resumes
//! at episode s trains exactly what the uninterrupted run would have.
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::probe_error::{ProbeError, Result};

/// Order of the T tasks within each epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// 0..T−1 every epoch (the task order itself is a random draw of documents).
    Cyclic,
    /// A new random permutation every epoch.
    Shuffled,
    /// Like `Shuffled`, but task 0 is always first (paper §3.5, prequential comparison).
    PrequentialShuffled,
}

impl std::str::FromStr for Order {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "cyclic" => Ok(Order::Cyclic),
            "shuffled" => Ok(Order::Shuffled),
            "prequential-shuffled" => Ok(Order::PrequentialShuffled),
            other => Err(format!(
                "unknown order `{other}` (expected cyclic|shuffled|prequential-shuffled)"
            )),
        }
    }
}

/// What is trained in one episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Episode {
    /// Task `i` (row/column i of the loss matrix).
    Task(usize),
    /// One-off random document number `k` of the extra pool (paper B.7); `order.npy` = −1.
    Random(usize),
}

impl Episode {
    /// The value stored in `order.npy`.
    pub fn order_value(self) -> i64 {
        match self {
            Episode::Task(i) => i as i64,
            Episode::Random(_) => -1,
        }
    }
}

/// Everything that defines a schedule.
#[derive(Debug, Clone)]
pub struct ScheduleSpec {
    pub tasks: usize,
    pub epochs: usize,
    pub order: Order,
    /// Paper B.1: shuffle tasks 1..=n (0-based) every epoch, keeping task 0 and tasks after n
    /// fixed. `Some(T−2)` fixes exactly the first and the last.
    pub partial_shuffle: Option<usize>,
    /// Paper B.7: this many one-off documents inserted after each epoch but the last.
    pub insert_random: usize,
    pub seed: u64,
}

impl ScheduleSpec {
    /// Number of one-off documents the schedule needs.
    pub fn random_docs_needed(&self) -> usize {
        self.insert_random * self.epochs.saturating_sub(1)
    }
}

/// Draws the schedule. Episodes are grouped by epoch: `result[e]` = episodes of epoch e+1.
pub fn build_schedule(spec: &ScheduleSpec) -> Result<Vec<Vec<Episode>>> {
    let t = spec.tasks;
    if t == 0 {
        return Err(ProbeError::Input("--tasks must be at least 1".into()));
    }
    if spec.epochs == 0 {
        return Err(ProbeError::Input("--epochs must be at least 1".into()));
    }
    if let Some(n) = spec.partial_shuffle {
        if spec.order != Order::Cyclic {
            return Err(ProbeError::Input(
                "--partial-shuffle applies to --order cyclic only".into(),
            ));
        }
        if n < 1 || n >= t {
            return Err(ProbeError::Input(format!(
                "--partial-shuffle {n} must lie in 1..={} (tasks 1..=n are shuffled; use {} to fix only the first and last)",
                t.saturating_sub(1),
                t.saturating_sub(2)
            )));
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed ^ 0x0DDE_2000_0000_0002);
    let mut next_random = 0;
    let mut out = Vec::with_capacity(spec.epochs);
    for e in 0..spec.epochs {
        let mut perm: Vec<usize> = (0..t).collect();
        match spec.order {
            Order::Cyclic => {
                if let Some(n) = spec.partial_shuffle {
                    perm[1..=n].shuffle(&mut rng);
                }
            }
            Order::Shuffled => perm.shuffle(&mut rng),
            Order::PrequentialShuffled => perm[1..].shuffle(&mut rng),
        }
        let mut eps: Vec<Episode> = perm.into_iter().map(Episode::Task).collect();
        if e + 1 < spec.epochs {
            for _ in 0..spec.insert_random {
                eps.push(Episode::Random(next_random));
                next_random += 1;
            }
        }
        out.push(eps);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(order: Order) -> ScheduleSpec {
        ScheduleSpec {
            tasks: 6,
            epochs: 4,
            order,
            partial_shuffle: None,
            insert_random: 0,
            seed: 7,
        }
    }

    fn tasks(ep: &[Episode]) -> Vec<usize> {
        ep.iter()
            .filter_map(|e| match e {
                Episode::Task(i) => Some(*i),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn cyclic_repeats_identity() {
        let s = build_schedule(&spec(Order::Cyclic)).unwrap();
        assert_eq!(s.len(), 4);
        for e in &s {
            assert_eq!(tasks(e), vec![0, 1, 2, 3, 4, 5]);
        }
    }

    #[test]
    fn shuffled_is_a_fresh_permutation_each_epoch() {
        let s = build_schedule(&spec(Order::Shuffled)).unwrap();
        let perms: Vec<_> = s.iter().map(|e| tasks(e)).collect();
        for p in &perms {
            let mut q = p.clone();
            q.sort();
            assert_eq!(q, vec![0, 1, 2, 3, 4, 5]);
        }
        assert!(perms.windows(2).any(|w| w[0] != w[1]));
        assert_eq!(s, build_schedule(&spec(Order::Shuffled)).unwrap());
    }

    #[test]
    fn prequential_keeps_first_and_partial_keeps_ends() {
        let s = build_schedule(&spec(Order::PrequentialShuffled)).unwrap();
        assert!(s.iter().all(|e| e[0] == Episode::Task(0)));
        let mut p = spec(Order::Cyclic);
        p.partial_shuffle = Some(4);
        p.epochs = 10;
        let s = build_schedule(&p).unwrap();
        assert!(s
            .iter()
            .all(|e| e[0] == Episode::Task(0) && e[5] == Episode::Task(5)));
        assert!(s.iter().any(|e| tasks(e) != vec![0, 1, 2, 3, 4, 5]));
        p.partial_shuffle = Some(6);
        assert!(build_schedule(&p).is_err());
    }

    #[test]
    fn random_documents_between_repeats() {
        let mut p = spec(Order::Cyclic);
        p.insert_random = 2;
        let s = build_schedule(&p).unwrap();
        assert_eq!(p.random_docs_needed(), 6);
        assert_eq!(s[0].len(), 8);
        assert_eq!(s[3].len(), 6);
        assert_eq!(s[1][6], Episode::Random(2));
        assert_eq!(Episode::Random(2).order_value(), -1);
    }
}
