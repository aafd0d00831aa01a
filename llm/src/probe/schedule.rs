//! The episode schedule: which document is trained in each episode.
//!
//! The whole schedule is drawn up front from the seed, so an interrupted run that resumes
//! at episode s trains exactly what the uninterrupted run would have.
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::probe::error::{ProbeError, Result};

pub use reawaken_analysis::Order;

/// How many one-off documents are inserted after each epoch but the last (paper B.7):
/// a fixed `K` (`min == max`), or a number drawn uniformly from `min..=max` for every
/// epoch with the run seed (the paper: 20–100). Written `K` or `MIN-MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InsertRandom {
    pub min: usize,
    pub max: usize,
}

impl InsertRandom {
    /// A fixed count per epoch.
    pub fn fixed(k: usize) -> Self {
        InsertRandom { min: k, max: k }
    }
}

impl std::str::FromStr for InsertRandom {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || {
            format!("expected a count K or a range MIN-MAX such as 20-100 (the paper), got `{s}`")
        };
        let num = |t: &str| t.trim().parse::<usize>().map_err(|_| bad());
        match s.split_once('-') {
            None => num(s).map(InsertRandom::fixed),
            Some((a, b)) => {
                let (min, max) = (num(a)?, num(b)?);
                if min > max {
                    return Err(format!("the range `{s}` has MIN > MAX"));
                }
                Ok(InsertRandom { min, max })
            }
        }
    }
}

impl std::fmt::Display for InsertRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}-{}", self.min, self.max)
        }
    }
}

/// Serialized as a number when fixed (`5`), else as the string `"20-100"`.
impl serde::Serialize for InsertRandom {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        if self.min == self.max {
            s.serialize_u64(self.min as u64)
        } else {
            s.serialize_str(&self.to_string())
        }
    }
}

impl<'de> serde::Deserialize<'de> for InsertRandom {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Count(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Count(k) => usize::try_from(k)
                .map(InsertRandom::fixed)
                .map_err(serde::de::Error::custom),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
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
    /// Paper B.1 with its N: shuffle x₂ … x_N (0-based tasks 1..N) every epoch, keeping x₁
    /// and x_{N+1} … x_T fixed. `Some(T−1)` fixes exactly the first and the last (the
    /// authors' `--start-shuffle-data-samples N`, whose sampler yields 0, a shuffle of
    /// 1..N, then N..T).
    pub partial_shuffle: Option<usize>,
    /// Paper B.7: one-off documents inserted after each epoch but the last.
    pub insert_random: InsertRandom,
    pub seed: u64,
}

impl ScheduleSpec {
    /// The most one-off documents the schedule can need, whatever the draws.
    pub fn max_random_docs(&self) -> usize {
        self.insert_random
            .max
            .saturating_mul(self.epochs.saturating_sub(1))
    }
}

/// Number of one-off documents a drawn schedule uses.
pub fn random_docs_used(schedule: &[Vec<Episode>]) -> usize {
    schedule
        .iter()
        .flatten()
        .filter(|e| matches!(e, Episode::Random(_)))
        .count()
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
        if n < 3 || n > t {
            return Err(ProbeError::Input(format!(
                "--partial-shuffle {n} must lie in 3..={t} (documents x2..xN are shuffled; N = {} fixes only the first and the last)",
                t.saturating_sub(1)
            )));
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed ^ 0x0DDE_2000_0000_0002);
    let mut next_random = 0;
    let mut out = Vec::new();
    out.try_reserve(spec.epochs).map_err(|_| {
        ProbeError::Input(format!(
            "--epochs {} is more than this machine can hold a schedule for",
            spec.epochs
        ))
    })?;
    for e in 0..spec.epochs {
        let mut perm: Vec<usize> = (0..t).collect();
        match spec.order {
            Order::Cyclic => {
                if let Some(n) = spec.partial_shuffle {
                    perm[1..n].shuffle(&mut rng);
                }
            }
            Order::Shuffled => perm.shuffle(&mut rng),
            Order::PrequentialShuffled => perm[1..].shuffle(&mut rng),
        }
        let mut eps: Vec<Episode> = perm.into_iter().map(Episode::Task).collect();
        if e + 1 < spec.epochs {
            let InsertRandom { min, max } = spec.insert_random;
            // A fixed count draws nothing, so its schedules equal those without a range.
            let k = if min == max {
                min
            } else {
                rng.random_range(min..=max)
            };
            for _ in 0..k {
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
            insert_random: InsertRandom::default(),
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
        // The paper's N (B.1): N = T - 1 = 5 shuffles x2..x5 and keeps x1 and x6.
        let mut p = spec(Order::Cyclic);
        p.partial_shuffle = Some(5);
        p.epochs = 10;
        let s = build_schedule(&p).unwrap();
        assert!(s
            .iter()
            .all(|e| e[0] == Episode::Task(0) && e[5] == Episode::Task(5)));
        assert!(s.iter().any(|e| tasks(e) != vec![0, 1, 2, 3, 4, 5]));
        // N = 3 shuffles x2 and x3 only: x4.. stay in place.
        p.partial_shuffle = Some(3);
        let s = build_schedule(&p).unwrap();
        assert!(s.iter().all(|e| tasks(&e[3..]) == vec![3, 4, 5]));
        assert!(s.iter().any(|e| tasks(&e[1..3]) == vec![2, 1]));
        // N = T shuffles everything but x1.
        p.partial_shuffle = Some(6);
        let s = build_schedule(&p).unwrap();
        assert!(s.iter().any(|e| e[5] != Episode::Task(5)));
        p.partial_shuffle = Some(7);
        assert!(build_schedule(&p).is_err());
        p.partial_shuffle = Some(2);
        assert!(build_schedule(&p).is_err());
    }

    #[test]
    fn random_documents_between_repeats() {
        let mut p = spec(Order::Cyclic);
        p.insert_random = InsertRandom::fixed(2);
        let s = build_schedule(&p).unwrap();
        assert_eq!(p.max_random_docs(), 6);
        assert_eq!(random_docs_used(&s), 6);
        assert_eq!(s[0].len(), 8);
        assert_eq!(s[3].len(), 6);
        assert_eq!(s[1][6], Episode::Random(2));
        assert_eq!(Episode::Random(2).order_value(), -1);
    }

    #[test]
    fn random_count_per_epoch_within_range() {
        let mut p = spec(Order::Cyclic);
        p.epochs = 30;
        p.insert_random = "3-9".parse().unwrap();
        let s = build_schedule(&p).unwrap();
        let counts: Vec<usize> = s
            .iter()
            .map(|e| e.iter().filter(|x| matches!(x, Episode::Random(_))).count())
            .collect();
        // Every epoch but the last gets a count in 3..=9, and the counts vary.
        assert!(counts[..29].iter().all(|&k| (3..=9).contains(&k)));
        assert_eq!(counts[29], 0);
        assert!(counts[..29].iter().any(|&k| k != counts[0]));
        // The tasks stay cyclic and first in every epoch; the one-off documents follow.
        assert!(s.iter().all(|e| tasks(&e[..6]) == vec![0, 1, 2, 3, 4, 5]));
        // Each one-off document is used once, numbered in order.
        let used: Vec<usize> = s
            .iter()
            .flatten()
            .filter_map(|e| match e {
                Episode::Random(k) => Some(*k),
                _ => None,
            })
            .collect();
        assert_eq!(used, (0..used.len()).collect::<Vec<_>>());
        assert_eq!(random_docs_used(&s), used.len());
        assert!(used.len() <= p.max_random_docs());
        assert_eq!(s, build_schedule(&p).unwrap());
    }

    #[test]
    fn insert_random_parses_and_round_trips() {
        let r: InsertRandom = "20-100".parse().unwrap();
        assert_eq!(r, InsertRandom { min: 20, max: 100 });
        assert_eq!(r.to_string(), "20-100");
        assert_eq!("7".parse::<InsertRandom>().unwrap(), InsertRandom::fixed(7));
        assert!("9-3".parse::<InsertRandom>().is_err());
        assert!("x".parse::<InsertRandom>().is_err());
        assert!("-3".parse::<InsertRandom>().is_err());
        assert_eq!(serde_json::to_string(&r).unwrap(), "\"20-100\"");
        assert_eq!(serde_json::to_string(&InsertRandom::fixed(4)).unwrap(), "4");
        let back: InsertRandom = serde_json::from_str("\"20-100\"").unwrap();
        assert_eq!(back, r);
        let back: InsertRandom = serde_json::from_str("4").unwrap();
        assert_eq!(back, InsertRandom::fixed(4));
    }
}
