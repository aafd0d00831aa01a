//! Property tests of the metrics (docs/records.md) on random orders and hand-built loss curves.

use ndarray::Array2;
use proptest::prelude::*;
use reawaken_analysis::metrics::{
    online_loss, recovery_score, shift_averaged_loss, training_episodes,
};

/// A loss matrix where task t's loss in row r, k = r − s − 1 rows after its training in
/// episode s and g = next − r rows before the row just before its next training, is `f(k, g)`, and `before` before its first training.
fn build(
    order: &[i64],
    n_tasks: usize,
    before: f64,
    f: impl Fn(usize, usize) -> f64,
) -> Array2<f64> {
    let tr = training_episodes(order, n_tasks);
    let mut m = Array2::from_elem((order.len() + 1, n_tasks), before);
    for (t, eps) in tr.iter().enumerate() {
        for (i, &s) in eps.iter().enumerate() {
            let next = eps.get(i + 1).copied().unwrap_or(order.len());
            for r in s + 1..=next.min(order.len()) {
                m[[r, t]] = f(r - s - 1, next - r);
            }
        }
    }
    m
}

/// Random order: `epochs` permutations of 0..T, with optional one-off (-1) episodes.
fn orders() -> impl Strategy<Value = (usize, Vec<i64>)> {
    (2usize..7, 2usize..6).prop_flat_map(|(t, e)| {
        let perms =
            proptest::collection::vec(Just((0..t as i64).collect::<Vec<_>>()).prop_shuffle(), e);
        let oneoffs = proptest::collection::vec(0usize..3, t * e);
        (Just(t), perms, oneoffs).prop_map(|(t, perms, ones)| {
            let mut order = Vec::new();
            for (i, s) in perms.into_iter().flatten().enumerate() {
                order.push(s);
                if ones[i] == 0 {
                    order.push(-1);
                }
            }
            (t, order)
        })
    })
}

proptest! {
    /// Curves that rise after training and return exactly to the post-training value just
    /// before the next training give RS = 1 whenever the stretch has room to rise.
    #[test]
    fn full_recovery_gives_one((t, order) in orders(), peak in 0.5f64..10.0) {
        let m = build(&order, t, 20.0, |k, g| if k == 0 || g == 0 { 1.0 } else { 1.0 + peak });
        let rs = recovery_score(&m, &order).unwrap();
        // RS(n) is defined as soon as one task has room to rise (a gap of ≥ 3 rows)
        let tr = training_episodes(&order, t);
        for (i, v) in rs.iter().enumerate() {
            let room = tr.iter().any(|e| e[i + 1] - e[i] >= 3);
            prop_assert_eq!(v.is_some(), room, "{:?}", rs);
        }
        for v in rs.into_iter().flatten() {
            prop_assert!((v - 1.0).abs() < 1e-12, "{v}");
        }
    }

    /// Curves that only rise between visits give RS = 0.
    #[test]
    fn no_recovery_gives_zero((t, order) in orders(), slope in 0.01f64..3.0) {
        let m = build(&order, t, 20.0, |k, _| 0.5 + slope * k as f64);
        let rs = recovery_score(&m, &order).unwrap();
        prop_assert!(!rs.is_empty() && rs.iter().all(Option::is_some), "{rs:?}");
        for v in rs.into_iter().flatten() {
            prop_assert!(v.abs() < 1e-12, "{v}");
        }
    }

    /// Relabelling tasks (permuting the columns and the order together) changes nothing.
    #[test]
    fn relabelling_invariance((t, order) in orders(), seed in any::<u64>()) {
        let m = Array2::from_shape_fn((order.len() + 1, t), |(r, c)| {
            ((r as u64 * 31 + c as u64 * 17 + seed) % 97) as f64 / 7.0
        });
        let mut perm: Vec<usize> = (0..t).collect();
        perm.rotate_left((seed as usize) % t);
        let mut m2 = m.clone();
        for (c, &p) in perm.iter().enumerate() {
            m2.column_mut(p).assign(&m.column(c));
        }
        let order2: Vec<i64> = order.iter().map(|&o| if o < 0 { o } else { perm[o as usize] as i64 }).collect();
        let a = recovery_score(&m, &order).unwrap();
        let b = recovery_score(&m2, &order2).unwrap();
        prop_assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            match (x, y) {
                (Some(x), Some(y)) => prop_assert!((x - y).abs() < 1e-9),
                (None, None) => {}
                _ => prop_assert!(false, "{x:?} vs {y:?}"),
            }
        }
        let oa = online_loss(&m, &order).unwrap();
        let ob = online_loss(&m2, &order2).unwrap();
        prop_assert_eq!(oa.per_episode, ob.per_episode);
        let sa = shift_averaged_loss(&m, &order).unwrap();
        let sb = shift_averaged_loss(&m2, &order2).unwrap();
        prop_assert_eq!(sa.mean.len(), sb.mean.len());
        for (x, y) in sa.mean.iter().zip(sb.mean.iter()) {
            prop_assert!((x - y).abs() < 1e-9);
        }
    }
}

#[test]
fn cyclic_shift_average_length_and_values() {
    // T = 3, E = 3 cyclic; every task's curve is the same function of episodes since its
    // first training, so the shift average equals that function exactly, std 0.
    let (t, e) = (3usize, 3usize);
    let order: Vec<i64> = (0..t * e).map(|s| (s % t) as i64).collect();
    let m = Array2::from_shape_fn((t * e + 1, t), |(r, c)| {
        if r <= c {
            5.0
        } else {
            ((r - c) as f64).sin()
        }
    });
    let sa = shift_averaged_loss(&m, &order).unwrap();
    assert_eq!(sa.mean.len(), t * (e - 1) + 2);
    assert_eq!(sa.mean[0], 5.0);
    for k in 1..sa.mean.len() {
        assert!((sa.mean[k] - (k as f64).sin()).abs() < 1e-12);
        assert!(sa.std[k].abs() < 1e-12);
    }
}
