//! Property tests of the toy dynamics (docs/toy-model.md) on both implementations: the fast
//! projection-space path and the explicit-P reference.

use ndarray::{Array1, Array2, Axis};
use proptest::prelude::*;
use reawaken_toy::dynamics::Dynamics;
use reawaken_toy::reference::{simulate_explicit, ExplicitState};
use reawaken_toy::{
    make_order, run_with_order, simulate, FastState, Init, InitMethod, LossReduction, Mapping,
    Order, ToyConfig, ToyProblem,
};

/// Small, stable configurations: T ≤ N and α‖x‖² ≤ α·N ≤ 1.6 < 2.
fn small_cfg() -> impl Strategy<Value = ToyConfig> {
    (
        any::<u64>(),
        1usize..6,
        0usize..8,
        1usize..7,
        0.05f64..0.95,
        prop_oneof![Just(Mapping::Target), Just(Mapping::Identity)],
        1usize..4,
        1usize..3,
        prop_oneof![Just(Order::Cyclic), Just(Order::Shuffled)],
    )
        .prop_map(
            |(seed, t, extra, m, factor, mapping, epochs, steps, order)| {
                let n = t + extra;
                ToyConfig {
                    seed,
                    tasks: t,
                    input_dim: n,
                    embed_dim: m,
                    lr: factor / n as f64,
                    mapping,
                    epochs,
                    steps,
                    order,
                    loss_reduction: LossReduction::Sum,
                }
            },
        )
}

/// max |a − b| relative to the scale of b (at least 1).
fn rel_diff(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    assert_eq!(a.dim(), b.dim());
    let scale = b.iter().fold(1.0f64, |s, v| s.max(v.abs()));
    a.iter()
        .zip(b)
        .fold(0.0f64, |d, (x, y)| d.max((x - y).abs()))
        / scale
}

fn states(problem: &ToyProblem) -> (FastState, ExplicitState) {
    (
        FastState::new(problem).unwrap(),
        ExplicitState::new(problem).unwrap(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// After every step the trained task's loss is 0 (w solves it exactly), in both
    /// implementations and in the recorded loss matrix.
    #[test]
    fn trained_task_loss_is_zero(cfg in small_cfg()) {
        let problem = ToyProblem::sample_explicit(&cfg);
        let (mut fast, mut explicit) = states(&problem);
        let order = make_order(&cfg);
        let mut out = Array1::zeros(cfg.tasks);
        for &i in &order {
            fast.step(i);
            explicit.step(i);
            fast.losses_into(out.view_mut());
            prop_assert!(out[i].abs() <= 1e-24, "fast: loss of trained task {} = {}", i, out[i]);
            let scale = out.iter().fold(1.0f64, |a, b| a.max(*b));
            explicit.losses_into(out.view_mut());
            prop_assert!(out[i].abs() <= 1e-20 * scale, "explicit: loss {}", out[i]);
        }
        let run = run_with_order(&problem, &order, cfg.steps, &mut |_| {}).unwrap();
        for (s, &i) in run.order.iter().enumerate() {
            prop_assert!(run.losses[[s + 1, i]].abs() <= 1e-24);
        }
    }

    /// One P-step multiplies the trained task's residual P x_i − f_i(w) by (1 − α‖x_i‖²)
    /// (before w is re-solved).
    #[test]
    fn p_step_scales_residual(cfg in small_cfg(), task_pick in any::<prop::sample::Index>(),
                              warmup in 0usize..6) {
        let problem = ToyProblem::sample_explicit(&cfg);
        let (mut fast, mut explicit) = states(&problem);
        // Move away from the initial state first so w is not special.
        let order = make_order(&cfg);
        for &i in order.iter().take(warmup) {
            fast.step(i);
            explicit.step(i);
        }
        let i = task_pick.index(cfg.tasks);
        let xi = problem.x.row(i);
        let factor = 1.0 - cfg.lr * xi.dot(&xi);
        for (name, st) in [("fast", &mut fast as &mut dyn Dynamics), ("explicit", &mut explicit)] {
            let before = st.residual(i);
            st.p_step(i);
            let after = st.residual(i);
            // Rounding is relative to the size of P x_i and w, not of the residual (which is
            // ~0 right after the task was trained).
            let pts = st.points();
            let scale = before.iter().chain(st.w().iter()).chain(pts.row(i).iter())
                .fold(1e-300f64, |a, b| a.max(b.abs()));
            for (a, b) in after.iter().zip(before.iter()) {
                prop_assert!((a - factor * b).abs() <= 1e-10 * scale,
                    "{}: residual {} vs {} * {}", name, a, factor, b);
            }
        }
    }

    /// The fast path computes the same dynamics as the explicit-P reference.
    #[test]
    fn fast_matches_explicit(cfg in small_cfg()) {
        let problem = ToyProblem::sample_explicit(&cfg);
        let order = make_order(&cfg);
        let fast = run_with_order(&problem, &order, cfg.steps, &mut |_| {}).unwrap();
        let slow = simulate_explicit(&problem, &order, cfg.steps, &mut |_| {}).unwrap();
        prop_assert!(rel_diff(&fast.losses, &slow.losses) < 1e-9);
        let (e, t, m) = fast.points.dim();
        let fp = fast.points.into_shape_with_order((e * t, m)).unwrap();
        let sp = slow.points.into_shape_with_order((e * t, m)).unwrap();
        prop_assert!(rel_diff(&fp, &sp) < 1e-9);
        prop_assert_eq!(fast.order, slow.order);
    }

    /// Relabelling the tasks (permuting x, y, the initial projections and the order
    /// together) permutes the columns of the loss matrix and the points.
    #[test]
    fn relabelling_permutes_columns(cfg in small_cfg(), perm_seed in any::<u64>()) {
        let problem = ToyProblem::sample(&cfg);
        let order = make_order(&cfg);
        let t = cfg.tasks;
        // pi[k] = old task that becomes new task k
        let pi = make_order(&ToyConfig { seed: perm_seed, tasks: t, epochs: 1, order: Order::Shuffled, ..cfg.clone() });
        let mut inv = vec![0; t];
        for (k, &old) in pi.iter().enumerate() { inv[old] = k; }
        let z0 = problem.z0();
        let permuted = ToyProblem {
            x: problem.x.select(Axis(0), &pi),
            y: problem.y.select(Axis(0), &pi),
            init: Init::Z0(z0.select(Axis(0), &pi)),
            ..problem.clone()
        };
        let new_order: Vec<usize> = order.iter().map(|&o| inv[o]).collect();
        let a = run_with_order(&problem, &order, cfg.steps, &mut |_| {}).unwrap();
        let b = run_with_order(&permuted, &new_order, cfg.steps, &mut |_| {}).unwrap();
        prop_assert!(rel_diff(&b.losses, &a.losses.select(Axis(1), &pi)) < 1e-12);
        for e in 0..a.points.dim().0 {
            let pa = a.points.index_axis(Axis(0), e).select(Axis(0), &pi);
            let pb = b.points.index_axis(Axis(0), e).to_owned();
            prop_assert!(rel_diff(&pb, &pa) < 1e-12);
        }
    }

    /// `target` with every y_i = 0 (f_i(w) = −w) gives the same loss matrix as `identity`
    /// when started from the corresponding fast vector w0' = f⁻¹-image = −w0; its points
    /// f_i⁻¹(P x_i) = −P x_i are the negated identity points. Checked on the explicit
    /// reference (the real equations) and on the fast path.
    #[test]
    fn target_with_zero_y_is_identity(cfg in small_cfg()) {
        let cfg = ToyConfig { mapping: Mapping::Identity, ..cfg };
        let id = ToyProblem::sample_explicit(&cfg);
        let tg = ToyProblem {
            mapping: Mapping::Target,
            y: Array2::zeros(id.y.dim()),
            w0: -&id.w0,
            ..id.clone()
        };
        let order = make_order(&cfg);
        let a = simulate_explicit(&id, &order, cfg.steps, &mut |_| {}).unwrap();
        let b = simulate_explicit(&tg, &order, cfg.steps, &mut |_| {}).unwrap();
        prop_assert!(rel_diff(&b.losses, &a.losses) < 1e-12);
        let fa = run_with_order(&id, &order, cfg.steps, &mut |_| {}).unwrap();
        let fb = run_with_order(&tg, &order, cfg.steps, &mut |_| {}).unwrap();
        prop_assert!(rel_diff(&fb.losses, &fa.losses) < 1e-12);
        let neg = -&fa.points;
        prop_assert!(fb.points.iter().zip(neg.iter()).all(|(x, y)| (x - y).abs() <= 1e-12 * (1.0 + y.abs())));
    }

    /// In this model the steps after the first in an episode change nothing.
    #[test]
    fn extra_steps_are_noops(cfg in small_cfg()) {
        let one = simulate(&ToyConfig { steps: 1, ..cfg.clone() }, &mut |_| {}).unwrap();
        let three = simulate(&ToyConfig { steps: 3, ..cfg }, &mut |_| {}).unwrap();
        prop_assert_eq!(one, three);
    }

    /// Same seed → identical run; different seed → different run.
    #[test]
    fn seeded_determinism(cfg in small_cfg(), other in any::<u64>()) {
        let a = simulate(&cfg, &mut |_| {}).unwrap();
        let b = simulate(&cfg, &mut |_| {}).unwrap();
        prop_assert_eq!(&a, &b);
        prop_assume!(other != cfg.seed);
        let c = simulate(&ToyConfig { seed: other, ..cfg }, &mut |_| {}).unwrap();
        prop_assert!(c.losses != a.losses);
        prop_assert!(c.points != a.points);
    }

    /// Orders: cyclic = 0..T−1 every epoch; shuffled = a permutation per epoch.
    #[test]
    fn orders_are_permutations(cfg in small_cfg()) {
        let order = make_order(&cfg);
        prop_assert_eq!(order.len(), cfg.tasks * cfg.epochs);
        for (e, chunk) in order.chunks(cfg.tasks).enumerate() {
            let mut sorted = chunk.to_vec();
            sorted.sort_unstable();
            prop_assert_eq!(&sorted, &(0..cfg.tasks).collect::<Vec<_>>(), "epoch {}", e);
            if cfg.order == Order::Cyclic {
                prop_assert_eq!(chunk, &sorted[..]);
            }
        }
    }
}

/// At the paper's defaults (E = 10, 250 episodes) the incremental fast path does not
/// drift away from the explicit reference, for both mappings and both orders.
#[test]
fn fast_matches_explicit_at_defaults() {
    for (mapping, order) in [
        (Mapping::Target, Order::Cyclic),
        (Mapping::Identity, Order::Cyclic),
        (Mapping::Target, Order::Shuffled),
    ] {
        let cfg = ToyConfig {
            mapping,
            order,
            ..ToyConfig::default()
        };
        let problem = ToyProblem::sample_explicit(&cfg);
        let ord = make_order(&cfg);
        let fast = run_with_order(&problem, &ord, 1, &mut |_| {}).unwrap();
        let slow = simulate_explicit(&problem, &ord, 1, &mut |_| {}).unwrap();
        // Relative to each row's largest loss, so small losses are compared fairly too.
        for (rf, rs) in fast.losses.rows().into_iter().zip(slow.losses.rows()) {
            let scale = rs.iter().fold(1e-300f64, |a, b| a.max(*b));
            for (a, b) in rf.iter().zip(rs.iter()) {
                assert!(
                    (a - b).abs() <= 1e-9 * scale,
                    "{mapping}/{order}: {a} vs {b}"
                );
            }
        }
    }
}

/// Identity at a larger size (the benchmark's regime, scaled down for test time).
#[test]
fn fast_matches_explicit_identity_larger() {
    let cfg = ToyConfig {
        mapping: Mapping::Identity,
        input_dim: 200,
        embed_dim: 150,
        lr: 0.005,
        ..ToyConfig::default()
    };
    let problem = ToyProblem::sample_explicit(&cfg);
    let ord = make_order(&cfg);
    let fast = run_with_order(&problem, &ord, 1, &mut |_| {}).unwrap();
    let slow = simulate_explicit(&problem, &ord, 1, &mut |_| {}).unwrap();
    assert!(rel_diff(&fast.losses, &slow.losses) < 1e-9);
}

/// When T > N the sampler materialises P0 from the same random stream as the explicit
/// sampler, so both give the same initial projections.
#[test]
fn materialised_p0_matches_explicit_sampler() {
    let cfg = ToyConfig {
        tasks: 12,
        input_dim: 8,
        embed_dim: 5,
        lr: 0.1,
        ..ToyConfig::default()
    };
    let fast = ToyProblem::sample(&cfg);
    assert_eq!(fast.init_method, InitMethod::MaterialisedP0);
    let slow = ToyProblem::sample_explicit(&cfg);
    assert!(rel_diff(&fast.z0(), &slow.z0()) < 1e-12);
    let a = simulate(&cfg, &mut |_| {}).unwrap();
    let b = simulate_explicit(&slow, &make_order(&cfg), 1, &mut |_| {}).unwrap();
    assert!(rel_diff(&a.losses, &b.losses) < 1e-9);
}

/// The directly sampled Z0 has the distribution of P0·X: rows iid N(0, G/N²).
/// Checked on the empirical covariance over many rows (M = 20000).
#[test]
fn sampled_z0_has_the_distribution_of_p0_x() {
    let cfg = ToyConfig {
        tasks: 4,
        input_dim: 6,
        embed_dim: 20000,
        ..ToyConfig::default()
    };
    let p = ToyProblem::sample(&cfg);
    assert_eq!(p.init_method, InitMethod::SampledZ0);
    let z = p.z0(); // (T, M)
    let m = cfg.embed_dim as f64;
    let emp = z.dot(&z.t()) / m; // (T, T)
    let n2 = (cfg.input_dim * cfg.input_dim) as f64;
    let g = p.x.dot(&p.x.t()) / n2;
    for i in 0..cfg.tasks {
        for j in 0..cfg.tasks {
            // std of an empirical covariance entry ≈ sqrt((g_ii g_jj + g_ij²)/M); allow 5 sigma
            let sd = ((g[[i, i]] * g[[j, j]] + g[[i, j]].powi(2)) / m).sqrt();
            assert!(
                (emp[[i, j]] - g[[i, j]]).abs() < 5.0 * sd,
                "({i},{j}): {} vs {}",
                emp[[i, j]],
                g[[i, j]]
            );
        }
    }
    let mean = z.mean_axis(Axis(1)).unwrap();
    for (i, v) in mean.iter().enumerate() {
        assert!(v.abs() < 5.0 * (g[[i, i]] / m).sqrt());
    }
}

/// Identity and target with the same seed share x, w0 and the initial projections;
/// cyclic and shuffled share all data.
#[test]
fn streams_are_shared_across_settings() {
    let base = ToyConfig::default();
    let t = ToyProblem::sample(&base);
    let i = ToyProblem::sample(&ToyConfig {
        mapping: Mapping::Identity,
        ..base.clone()
    });
    assert_eq!(t.x, i.x);
    assert_eq!(t.w0, i.w0);
    assert_eq!(t.z0(), i.z0());
    let s = ToyProblem::sample(&ToyConfig {
        order: Order::Shuffled,
        ..base.clone()
    });
    assert_eq!(s, t);
    let more = ToyProblem::sample(&ToyConfig { tasks: 30, ..base });
    assert_eq!(more.x.slice(ndarray::s![..25, ..]), t.x);
}
