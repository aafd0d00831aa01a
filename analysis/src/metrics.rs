//! Metrics of anticipatory recovery (docs/records.md; paper §3.1, §3.5, App. A.4).
//!
//! All functions take the **loss matrix** `losses` of shape (episodes+1, T) — row s holds
//! the loss of every task after s episodes, row 0 before any training — and the **order**
//! (episodes,): `order[s]` is the task trained in episode s (which leads from row s to
//! row s+1), or `-1` for an episode that trained a one-off document and no task (paper
//! B.7; such episodes are ignored by the metrics but still occupy a row). They work for
//! any order: cyclic, shuffled, partially shuffled, with one-off documents. Element type
//! may be `f32` or `f64`; computation is in `f64`.
//!
//! # Definitions
//!
//! Let s₁ < s₂ < … be the episodes in which task t is trained (its 1st, 2nd, … training).
//!
//! * **Recovery score** RS(n), n = 1..N−1 where N is the largest number of trainings of a
//!   task (= E for plain runs). For task t the stretch runs from row s_n+1 (right after
//!   its n-th training) to row s_{n+1} (right before its (n+1)-th), inclusive.
//!   l_after = loss at row s_n+1, l_before = loss at row s_{n+1}, l_max = max over the
//!   stretch. Each is averaged over tasks, then
//!   RS(n) = (l̄_max − l̄_before) / (l̄_max − l̄_after) (ratio of averages).
//!   RS(n) is `None` when some task has no (n+1)-th training, when the denominator is 0,
//!   or when the result is not finite. RS(n) > 1 (loss fell below its post-training
//!   value) is returned as is, never clipped.
//!
//!   *Back-to-back trainings.* A shuffled order can train a task at the end of one epoch
//!   and again at the start of the next (s_{n+1} = s_n + 1). Trainings are counted one
//!   by one (they are not merged), so that "the n-th training" means the same thing for
//!   every task. Such a pair gives a stretch of one row where l_max = l_before = l_after:
//!   the task contributes 0 to both numerator and denominator (no forgetting, nothing to
//!   recover) but still counts in the averages' divisor.
//!
//! * **Shift-averaged loss** (A.4). Task t's curve is re-aligned so that index 0 is the
//!   row just before its first training (row s₁), i.e. aligned_t[k] = losses[s₁ + k, t],
//!   and curves are averaged over tasks. The common length is min over trained tasks of
//!   (episodes+1 − s₁) = T(E−1)+2 for a cyclic order. Tasks never trained are left out.
//!   Index k corresponds to k/T epochs after the focal task's first training.
//!
//! * **Online (prequential) loss** (§3.5). For every episode s training task t ≥ 0, the
//!   loss of t just before it: losses[s, t]. The *epoch* of that training is its count:
//!   the n-th training of a task belongs to epoch n (for plain cyclic and shuffled runs
//!   this is exactly the block of episodes (n−1)T..nT). `mean_after_first` (the
//!   `online_loss_mean` of `run.json`) averages over epochs 2..E, i.e. over every training
//!   of a task that had been trained before.

use ndarray::{Array1, Array2, ArrayBase, Data, Ix2};

/// Errors in metric inputs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    /// losses must have exactly one row more than order.
    #[error("loss matrix has {rows} rows but the order has {episodes} episodes (expected {} rows)", .episodes + 1)]
    RowsMismatch {
        /// Rows of the loss matrix.
        rows: usize,
        /// Length of the order.
        episodes: usize,
    },
    /// An order entry is neither -1 nor a valid task index.
    #[error("order entry {value} at episode {episode} is not a task index (0..{n_tasks}) or -1")]
    BadOrderEntry {
        /// Offending value.
        value: i64,
        /// Its episode.
        episode: usize,
        /// Number of tasks (columns).
        n_tasks: usize,
    },
}

fn check<S, A>(losses: &ArrayBase<S, Ix2>, order: &[i64]) -> Result<Vec<Vec<usize>>, MetricsError>
where
    S: Data<Elem = A>,
{
    if losses.nrows() != order.len() + 1 {
        return Err(MetricsError::RowsMismatch {
            rows: losses.nrows(),
            episodes: order.len(),
        });
    }
    let n_tasks = losses.ncols();
    let mut trainings = vec![Vec::new(); n_tasks];
    for (s, &t) in order.iter().enumerate() {
        if t == -1 {
            continue;
        }
        if t < 0 || t as u64 >= n_tasks as u64 {
            return Err(MetricsError::BadOrderEntry {
                value: t,
                episode: s,
                n_tasks,
            });
        }
        trainings[t as usize].push(s);
    }
    Ok(trainings)
}

/// Episodes in which each task is trained: entry t lists s₁ < s₂ < … for task t.
pub fn training_episodes(order: &[i64], n_tasks: usize) -> Vec<Vec<usize>> {
    let mut trainings = vec![Vec::new(); n_tasks];
    for (s, &t) in order.iter().enumerate() {
        if t >= 0 && (t as u64) < n_tasks as u64 {
            trainings[t as usize].push(s);
        }
    }
    trainings
}

/// The averaged terms of RS(n).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecoveryTerms {
    /// n (1-based).
    pub n: usize,
    /// Mean over tasks of the max loss on the stretch.
    pub l_max: f64,
    /// Mean loss right before the (n+1)-th training.
    pub l_before: f64,
    /// Mean loss right after the n-th training.
    pub l_after: f64,
}

impl RecoveryTerms {
    /// (l_max − l_before)/(l_max − l_after), `None` if the denominator is 0 or the
    /// result is not finite.
    pub fn score(&self) -> Option<f64> {
        let den = self.l_max - self.l_after;
        if den == 0.0 {
            return None;
        }
        let rs = (self.l_max - self.l_before) / den;
        rs.is_finite().then_some(rs)
    }
}

/// The averaged terms of RS(n) for n = 1..N−1 (`None` where some task has no (n+1)-th
/// training). See the module docs.
pub fn recovery_terms<S, A>(
    losses: &ArrayBase<S, Ix2>,
    order: &[i64],
) -> Result<Vec<Option<RecoveryTerms>>, MetricsError>
where
    S: Data<Elem = A>,
    A: Copy + Into<f64>,
{
    let trainings = check(losses, order)?;
    let n_tasks = losses.ncols();
    let max_count = trainings.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = Vec::with_capacity(max_count.saturating_sub(1));
    for n in 1..max_count {
        if trainings.iter().any(|tr| tr.len() < n + 1) {
            out.push(None);
            continue;
        }
        let (mut lmax, mut lbef, mut laft) = (0.0, 0.0, 0.0);
        for (t, tr) in trainings.iter().enumerate() {
            let first = tr[n - 1] + 1;
            let last = tr[n];
            let col = losses.column(t);
            let mut m = f64::NEG_INFINITY;
            for r in first..=last {
                let v: f64 = col[r].into();
                // NaN propagates into the result (and makes it undefined).
                m = if v.is_nan() { f64::NAN } else { m.max(v) };
                if m.is_nan() {
                    break;
                }
            }
            lmax += m;
            laft += col[first].into();
            lbef += col[last].into();
        }
        let k = n_tasks as f64;
        out.push(Some(RecoveryTerms {
            n,
            l_max: lmax / k,
            l_before: lbef / k,
            l_after: laft / k,
        }));
    }
    Ok(out)
}

/// RS(n) for n = 1..N−1 (N = the most trainings of any task; E for plain runs).
/// See the module docs for the exact definition.
pub fn recovery_score<S, A>(
    losses: &ArrayBase<S, Ix2>,
    order: &[i64],
) -> Result<Vec<Option<f64>>, MetricsError>
where
    S: Data<Elem = A>,
    A: Copy + Into<f64>,
{
    Ok(recovery_terms(losses, order)?
        .into_iter()
        .map(|t| t.and_then(|t| t.score()))
        .collect())
}

/// Shift-averaged loss curve with its spread over tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct ShiftAveraged {
    /// Mean over tasks, length L.
    pub mean: Array1<f64>,
    /// Population standard deviation over tasks (numpy `std`, ddof = 0), length L.
    pub std: Array1<f64>,
    /// Aligned per-task curves, shape (number of trained tasks, L).
    pub curves: Array2<f64>,
    /// The task of each row of `curves`.
    pub tasks: Vec<usize>,
}

/// Shift-averaged loss (paper A.4); see the module docs. Empty (L = 0) if no task is trained.
pub fn shift_averaged_loss<S, A>(
    losses: &ArrayBase<S, Ix2>,
    order: &[i64],
) -> Result<ShiftAveraged, MetricsError>
where
    S: Data<Elem = A>,
    A: Copy + Into<f64>,
{
    let trainings = check(losses, order)?;
    let rows = losses.nrows();
    let tasks: Vec<usize> = (0..losses.ncols())
        .filter(|&t| !trainings[t].is_empty())
        .collect();
    let len = tasks
        .iter()
        .map(|&t| rows - trainings[t][0])
        .min()
        .unwrap_or(0);
    let mut curves = Array2::<f64>::zeros((tasks.len(), len));
    for (i, &t) in tasks.iter().enumerate() {
        let s1 = trainings[t][0];
        for k in 0..len {
            curves[[i, k]] = losses[[s1 + k, t]].into();
        }
    }
    let (mean, std) = if tasks.is_empty() {
        (Array1::zeros(len), Array1::zeros(len))
    } else {
        let mean = curves
            .mean_axis(ndarray::Axis(0))
            .unwrap_or_else(|| Array1::zeros(len));
        let std = curves.std_axis(ndarray::Axis(0), 0.0);
        (mean, std)
    };
    Ok(ShiftAveraged {
        mean,
        std,
        curves,
        tasks,
    })
}

/// Online (prequential) loss.
#[derive(Debug, Clone, PartialEq)]
pub struct OnlineLoss {
    /// Per episode: loss of the task about to be trained, just before its episode
    /// (`None` for one-off episodes, order = −1).
    pub per_episode: Vec<Option<f64>>,
    /// Mean per epoch: entry n−1 averages the n-th trainings of all tasks.
    pub per_epoch: Vec<Option<f64>>,
    /// Mean over epochs 2..E (every training of a task trained before); `None` if none.
    pub mean_after_first: Option<f64>,
}

/// Online (prequential) loss; see the module docs.
pub fn online_loss<S, A>(
    losses: &ArrayBase<S, Ix2>,
    order: &[i64],
) -> Result<OnlineLoss, MetricsError>
where
    S: Data<Elem = A>,
    A: Copy + Into<f64>,
{
    check(losses, order)?;
    let n_tasks = losses.ncols();
    let mut count = vec![0usize; n_tasks];
    let mut per_episode = Vec::with_capacity(order.len());
    let mut sums: Vec<(f64, usize)> = Vec::new();
    for (s, &t) in order.iter().enumerate() {
        if t < 0 {
            per_episode.push(None);
            continue;
        }
        let t = t as usize;
        let v: f64 = losses[[s, t]].into();
        per_episode.push(Some(v));
        let n = count[t];
        count[t] += 1;
        if sums.len() <= n {
            sums.resize(n + 1, (0.0, 0));
        }
        sums[n].0 += v;
        sums[n].1 += 1;
    }
    let per_epoch = sums
        .iter()
        .map(|&(s, c)| (c > 0).then(|| s / c as f64))
        .collect();
    let (s, c) = sums
        .iter()
        .skip(1)
        .fold((0.0, 0usize), |(a, b), &(s, c)| (a + s, b + c));
    Ok(OnlineLoss {
        per_episode,
        per_epoch,
        mean_after_first: (c > 0).then(|| s / c as f64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    fn cyclic(t: usize, e: usize) -> Vec<i64> {
        (0..t * e).map(|s| (s % t) as i64).collect()
    }

    /// Builds a loss matrix where task t's loss after each episode follows `f(k)` where k
    /// is the number of episodes since its last training (k = 0 right after), and
    /// `before` before its first training.
    fn curve_matrix(
        order: &[i64],
        n_tasks: usize,
        before: f64,
        f: impl Fn(usize) -> f64,
    ) -> Array2<f64> {
        let mut m = Array2::from_elem((order.len() + 1, n_tasks), before);
        let mut last: Vec<Option<usize>> = vec![None; n_tasks];
        for (s, &t) in order.iter().enumerate() {
            if t >= 0 {
                last[t as usize] = Some(s);
            }
            for j in 0..n_tasks {
                if let Some(l) = last[j] {
                    m[[s + 1, j]] = f(s - l);
                }
            }
        }
        m
    }

    #[test]
    fn rs_is_one_when_curves_return_to_post_training_value() {
        let order = cyclic(5, 4);
        // inverted U: 0 right after, peak mid-way, back to 0 right before the next training
        let m = curve_matrix(&order, 5, 9.0, |k| match k {
            0 | 4 => 0.0,
            1 | 3 => 2.0,
            _ => 3.0,
        });
        let rs = recovery_score(&m, &order).unwrap();
        assert_eq!(rs.len(), 3);
        for v in rs {
            assert!((v.unwrap() - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn rs_is_zero_when_curves_only_rise() {
        let order = cyclic(4, 3);
        let m = curve_matrix(&order, 4, 9.0, |k| k as f64 * 0.5 + 0.1);
        let rs = recovery_score(&m.mapv(|v| v as f32), &order).unwrap();
        assert_eq!(rs.len(), 2);
        for v in rs {
            assert!(v.unwrap().abs() < 1e-6);
        }
    }

    #[test]
    fn rs_known_value_and_above_one_not_clipped() {
        // T=2, E=2: order 0 1 0 1. Task 0: rows 1..=2 stretch; task 1: rows 2..=3.
        let order = vec![0, 1, 0, 1];
        let m = array![
            [5.0, 5.0],
            [1.0, 5.0], // after task 0 trained: l_after(0)=1
            [3.0, 2.0], // before 0's 2nd: l_before(0)=3, l_max(0)=3; after task1: l_after(1)=2
            [0.0, 1.0], // before 1's 2nd: l_before(1)=1, l_max(1)=2
            [0.0, 0.0]
        ];
        let rs = recovery_score(&m, &order).unwrap();
        // l_max = 2.5, l_before = 2, l_after = 1.5 → 0.5/1.0
        assert!((rs[0].unwrap() - 0.5).abs() < 1e-12);
        // loss falling below the post-training value → RS > 1, reported as is
        let m2 = array![[5.0, 5.0], [2.0, 5.0], [1.0, 2.0], [0.0, 1.0], [0.0, 0.0]];
        let rs2 = recovery_score(&m2, &order).unwrap();
        // l_max = 2, l_before = 0.5, l_after = 2 → denominator 0 → None
        assert_eq!(rs2[0], None);
        let m3 = array![[5.0, 5.0], [2.0, 5.0], [1.5, 2.5], [0.0, 1.0], [0.0, 0.0]];
        // l_max = (2+2.5)/2 = 2.25, l_before = (1.5+1)/2 = 1.25, l_after = (2+2.5)/2 → None too
        assert_eq!(recovery_score(&m3, &order).unwrap()[0], None);
        let m4 = array![[5.0, 5.0], [2.0, 5.0], [3.0, 2.0], [0.0, 0.5], [0.0, 0.0]];
        // task0: after 2, max 3, before 3; task1: after 2, max 2, before 0.5
        // l_max 2.5, l_before 1.75, l_after 2 → 0.75/0.5 = 1.5
        assert!((recovery_score(&m4, &order).unwrap()[0].unwrap() - 1.5).abs() < 1e-12);
    }

    #[test]
    fn rs_undefined_when_a_task_lacks_a_next_training() {
        let order = vec![0, 1, 2, 0, 1, 2, 0, 1]; // task 2 trained only twice
        let m = curve_matrix(&order, 3, 9.0, |k| [0.0, 2.0, 1.0][k.min(2)]);
        let rs = recovery_score(&m, &order).unwrap();
        assert_eq!(rs.len(), 2);
        assert!((rs[0].unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(rs[1], None);
    }

    #[test]
    fn shuffled_orders_and_back_to_back() {
        // epoch 1: 0 1 2, epoch 2: 2 0 1 (task 2 back-to-back), epoch 3: 1 2 0
        let order = vec![0, 1, 2, 2, 0, 1, 1, 2, 0];
        // returns to post-training value exactly before the next training, whatever the gap
        let tr = training_episodes(&order, 3);
        assert_eq!(tr[2], vec![2, 3, 7]);
        let mut m = Array2::from_elem((10, 3), 7.0);
        for (t, eps) in tr.iter().enumerate() {
            for w in eps.windows(2) {
                for r in w[0] + 1..=w[1] {
                    let mid = r != w[0] + 1 && r != w[1];
                    m[[r, t]] = if mid { 4.0 } else { 1.0 };
                }
            }
            let last = *eps.last().unwrap();
            for r in last + 1..10 {
                m[[r, t]] = 1.0;
            }
        }
        let rs = recovery_score(&m, &order).unwrap();
        assert_eq!(rs.len(), 2);
        assert!((rs[0].unwrap() - 1.0).abs() < 1e-12);
        assert!((rs[1].unwrap() - 1.0).abs() < 1e-12);
        // one-off episodes (-1) are ignored but keep their rows
        let order2 = vec![0, -1, 1, 0, -1, 1];
        let m2 = curve_matrix(
            &order2,
            2,
            5.0,
            |k| if k == 0 || k == 2 { 0.0 } else { 1.0 },
        );
        let rs2 = recovery_score(&m2, &order2).unwrap();
        assert_eq!(rs2.len(), 1);
        assert!((rs2[0].unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn input_errors() {
        let m = Array2::<f64>::zeros((3, 2));
        assert!(matches!(
            recovery_score(&m, &[0, 1, 0]),
            Err(MetricsError::RowsMismatch { .. })
        ));
        assert!(matches!(
            recovery_score(&m, &[0, 2]),
            Err(MetricsError::BadOrderEntry { value: 2, .. })
        ));
        assert!(matches!(
            online_loss(&m, &[0, -3]),
            Err(MetricsError::BadOrderEntry { value: -3, .. })
        ));
    }

    #[test]
    fn shift_average_hand_made() {
        // T=2, E=2 cyclic: length T(E-1)+2 = 4
        let order = vec![0, 1, 0, 1];
        let m = array![
            [10.0, 20.0],
            [1.0, 21.0],
            [2.0, 3.0],
            [4.0, 5.0],
            [6.0, 7.0]
        ];
        let sa = shift_averaged_loss(&m, &order).unwrap();
        // task 0 aligned from row 0: 10 1 2 4; task 1 from row 1: 21 3 5 7
        assert_eq!(
            sa.curves,
            array![[10.0, 1.0, 2.0, 4.0], [21.0, 3.0, 5.0, 7.0]]
        );
        assert_eq!(sa.mean, array![15.5, 2.0, 3.5, 5.5]);
        assert_eq!(sa.std, array![5.5, 1.0, 1.5, 1.5]);
        assert_eq!(sa.tasks, vec![0, 1]);
        // cyclic length formula
        let order = cyclic(5, 3);
        let m = Array2::<f32>::zeros((16, 5));
        assert_eq!(
            shift_averaged_loss(&m, &order).unwrap().mean.len(),
            5 * 2 + 2
        );
        // untrained task left out
        let sa = shift_averaged_loss(&Array2::<f64>::zeros((3, 3)), &[1, -1]).unwrap();
        assert_eq!(sa.tasks, vec![1]);
        assert_eq!(sa.mean.len(), 3);
    }

    #[test]
    fn online_loss_hand_made() {
        let order = vec![0, 1, 1, 0];
        let m = array![[4.0, 6.0], [0.0, 5.0], [1.0, 0.0], [2.0, 0.0], [0.0, 3.0]];
        let ol = online_loss(&m, &order).unwrap();
        assert_eq!(
            ol.per_episode,
            vec![Some(4.0), Some(5.0), Some(0.0), Some(2.0)]
        );
        assert_eq!(ol.per_epoch, vec![Some(4.5), Some(1.0)]);
        assert_eq!(ol.mean_after_first, Some(1.0));
        let ol = online_loss(&m.slice(ndarray::s![..3, ..]), &order[..2]).unwrap();
        assert_eq!(ol.mean_after_first, None);
    }
}
