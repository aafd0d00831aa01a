//! Validation, stability refusal and the non-finite guard.

use ndarray::Array2;
use reawaken_toy::{
    make_order, run_with_order, simulate, Init, InitMethod, Mapping, Order, ToyConfig, ToyError,
    ToyProblem,
};

#[test]
fn defaults_validate_without_warnings() {
    assert_eq!(
        ToyConfig::default().validate().unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn zero_sizes_are_rejected_with_the_flag_name() {
    for (cfg, flag) in [
        (
            ToyConfig {
                tasks: 0,
                ..ToyConfig::default()
            },
            "--tasks",
        ),
        (
            ToyConfig {
                input_dim: 0,
                ..ToyConfig::default()
            },
            "--input-dim",
        ),
        (
            ToyConfig {
                embed_dim: 0,
                ..ToyConfig::default()
            },
            "--embed-dim",
        ),
        (
            ToyConfig {
                epochs: 0,
                ..ToyConfig::default()
            },
            "--epochs",
        ),
        (
            ToyConfig {
                steps: 0,
                ..ToyConfig::default()
            },
            "--steps",
        ),
        (
            ToyConfig {
                lr: 0.0,
                ..ToyConfig::default()
            },
            "--lr",
        ),
        (
            ToyConfig {
                lr: -1.0,
                ..ToyConfig::default()
            },
            "--lr",
        ),
        (
            ToyConfig {
                lr: f64::NAN,
                ..ToyConfig::default()
            },
            "--lr",
        ),
        (
            ToyConfig {
                lr: f64::INFINITY,
                ..ToyConfig::default()
            },
            "--lr",
        ),
    ] {
        let err = cfg.validate().unwrap_err();
        assert!(matches!(err, ToyError::InvalidConfig(_)), "{err}");
        assert!(err.to_string().contains(flag), "{err}");
        assert!(simulate(&cfg, &mut |_| {}).is_err());
    }
}

#[test]
fn huge_runs_are_refused_before_allocating() {
    let cfg = ToyConfig {
        tasks: 100_000,
        epochs: 100,
        ..ToyConfig::default()
    };
    let err = cfg.validate().unwrap_err();
    assert!(err.to_string().contains("GiB"), "{err}");
    let cfg = ToyConfig {
        tasks: usize::MAX,
        epochs: usize::MAX,
        ..ToyConfig::default()
    };
    assert!(cfg.validate().is_err());
}

/// The paper's figure-10a setting (N = M = 1000, lr = 0.01) with the summed loss is past
/// the stability limit: refused in plain words before any step, with a learning rate that
/// works; `--loss-reduction mean` runs the printed setting as it is.
#[test]
fn unstable_lr_is_refused_with_advice() {
    let cfg = ToyConfig {
        input_dim: 1000,
        embed_dim: 1000,
        lr: 0.01,
        mapping: Mapping::Identity,
        ..ToyConfig::default()
    };
    let err = cfg.validate().unwrap_err();
    let ToyError::Unstable { step_factor, .. } = &err else {
        panic!("{err:?}")
    };
    assert!((step_factor - 10.0 / 3.0).abs() < 1e-9);
    let msg = err.to_string();
    assert!(
        msg.contains("stability limit") && msg.contains("--lr ≤ 0.002"),
        "{msg}"
    );
    assert!(!msg.contains("  "), "{msg}");
    let ok = ToyConfig {
        lr: 0.002,
        ..cfg.clone()
    };
    assert!(ok.validate().is_ok());
    assert!(simulate(&ok, &mut |_| {}).is_ok());
    // The suggestion for 0.004 (what the old limit of 2 allowed) is refused now: its
    // typical step factor is 1.33.
    let old = ToyConfig {
        lr: 0.004,
        ..cfg.clone()
    };
    assert!(matches!(old.validate(), Err(ToyError::Unstable { .. })));
    let mean = ToyConfig {
        loss_reduction: reawaken_toy::LossReduction::Mean,
        ..cfg.clone()
    };
    assert!(mean.validate().is_ok());
    let run = simulate(&mean, &mut |_| {}).unwrap();
    assert!(run.losses.iter().all(|v| v.is_finite()));
    assert!(matches!(
        simulate(&cfg, &mut |_| {}),
        Err(ToyError::Unstable { .. })
    ));
}

/// Near the limit validation only warns; the exact check on the sampled data refuses
/// exactly when some task has lr·|x_i|² ≥ 1.
#[test]
fn exact_check_on_sampled_data() {
    let n = 100;
    let mut refused = 0;
    let mut accepted = 0;
    for seed in 0..40 {
        // lr*N/3 = 0.9: typical task below 1, the largest of 25 sometimes above.
        let cfg = ToyConfig {
            seed,
            lr: 0.9 * 3.0 / n as f64,
            ..ToyConfig::default()
        };
        let warnings = cfg.validate().unwrap();
        assert!(
            warnings.iter().any(|w| w.contains("stability limit")),
            "{warnings:?}"
        );
        let p = ToyProblem::sample(&cfg);
        let (_, f) = p.step_factor_max();
        match simulate(&cfg, &mut |_| {}) {
            Err(ToyError::Unstable {
                step_factor, task, ..
            }) => {
                assert!(f >= 1.0 && step_factor == f);
                let xi = p.x.row(task);
                assert!((cfg.lr * xi.dot(&xi) - f).abs() < 1e-12);
                refused += 1;
            }
            Ok(run) => {
                assert!(f < 1.0 && run.step_factor_max == f);
                accepted += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(
        refused > 0 && accepted > 0,
        "refused {refused}, accepted {accepted}"
    );
}

/// A loss that overflows is never returned as data: the error carries the finite prefix.
#[test]
fn non_finite_losses_are_reported_with_the_finite_prefix() {
    let cfg = ToyConfig {
        tasks: 3,
        input_dim: 4,
        embed_dim: 2,
        lr: 0.1,
        epochs: 4,
        ..ToyConfig::default()
    };
    let mut p = ToyProblem::sample(&cfg);
    // Points p_0 = 0, p_1 = (a, 0), p_2 = (-a, 0) with ½a² finite but ½(2a)² = inf.
    let a = 1e154;
    p.y = Array2::zeros((3, 2));
    p.y[[1, 0]] = a;
    p.y[[2, 0]] = -a;
    p.w0.fill(0.0);
    p.init = Init::Z0(Array2::zeros((3, 2)));
    p.init_method = InitMethod::Given;
    let order = make_order(&cfg);
    let mut seen = Vec::new();
    let err = run_with_order(&p, &order, 1, &mut |s| seen.push(s)).unwrap_err();
    let msg = err.to_string();
    let ToyError::NonFinite { episode, partial } = err else {
        panic!("{msg}")
    };
    // Episode 1 trains task 0 (w = p_0, finite losses); episode 2 puts w on p_1 and task 2's
    // loss ½|p_2 − p_1|² ≈ ½(2a)² overflows.
    assert_eq!(episode, 2, "{msg}");
    assert!(msg.contains("after 2 episodes"), "{msg}");
    assert_eq!(partial.losses.nrows(), 2);
    assert_eq!(partial.order, vec![0]);
    assert!(partial.losses.iter().all(|v| v.is_finite()));
    assert!(partial.losses[[0, 1]] > 1e300);
    assert_eq!(partial.points.dim(), (1, 3, 2));
    assert_eq!(seen, vec![1]);
}

/// The problem of the default config with every x_i rescaled to ‖x_i‖² = N/3 and
/// lr = c/(N/3), so that every task's step factor α‖x_i‖² is exactly c.
fn problem_with_step_factor(c: f64) -> (ToyConfig, ToyProblem) {
    let cfg = ToyConfig::default();
    let mut p = ToyProblem::sample(&cfg);
    let target = cfg.input_dim as f64 / 3.0;
    let mut z0 = p.z0();
    for i in 0..cfg.tasks {
        let k = (target / p.x.row(i).dot(&p.x.row(i))).sqrt();
        p.x.row_mut(i).mapv_inplace(|v| v * k);
        z0.row_mut(i).mapv_inplace(|v| v * k);
    }
    p.init = Init::Z0(z0);
    p.init_method = InitMethod::Given;
    p.lr = c / target;
    (cfg, p)
}

/// The stability limit is α‖x‖² < 1: w is re-solved after every P-step, so each task's
/// residual is carried to the next one multiplied by c = α‖x‖². Just below the limit the
/// losses stay bounded; just above it they grow geometrically, epoch after epoch, until
/// the run loop ends the run as runaway — while every value is still finite.
#[test]
fn losses_grow_geometrically_just_above_the_limit_and_stay_bounded_below() {
    let epoch_max = |l: &Array2<f64>, t: usize| -> Vec<f64> {
        l.rows()
            .into_iter()
            .skip(1)
            .collect::<Vec<_>>()
            .chunks(t)
            .map(|rows| {
                rows.iter()
                    .flat_map(|r| r.iter().copied())
                    .fold(0.0, f64::max)
            })
            .collect()
    };
    let (cfg, below) = problem_with_step_factor(0.9);
    let order = make_order(&cfg);
    let run = run_with_order(&below, &order, 1, &mut |_| {}).unwrap();
    let initial = run.losses.row(0).fold(0.0f64, |m, &v| m.max(v));
    let worst = run.losses.fold(0.0f64, |m, &v| m.max(v));
    assert!(
        worst < 10.0 * initial,
        "c = 0.9: max loss {worst} vs initial {initial}"
    );

    let (_, above) = problem_with_step_factor(1.1);
    // Refused up front by the stability check ...
    assert!(matches!(
        run_with_order(&above, &order, 1, &mut |_| {}),
        Err(ToyError::Unstable { .. })
    ));
    // ... and ended by the loop when run anyway.
    let mut state = reawaken_toy::FastState::new(&above).unwrap();
    let err =
        reawaken_toy::simulate::run_with(&mut state, &above, &order, 1, &mut |_| {}).unwrap_err();
    let msg = err.to_string();
    let ToyError::Runaway {
        episode,
        max_loss,
        initial_max,
        partial,
    } = err
    else {
        panic!("{msg}")
    };
    assert!(msg.contains("grew without bound"), "{msg}");
    assert!(max_loss > 1e6 * initial_max && max_loss.is_finite());
    assert!(partial.losses.iter().all(|v| v.is_finite()));
    assert_eq!(partial.losses.nrows(), episode + 1);
    assert_eq!(partial.order.len(), episode);
    // Geometric: every completed epoch's largest loss is several times the previous one.
    let maxima = epoch_max(&partial.losses, cfg.tasks);
    let full = &maxima[..maxima.len() - 1];
    assert!(full.len() >= 3, "{maxima:?}");
    for w in full[1..].windows(2) {
        assert!(w[1] > 3.0 * w[0], "epoch maxima {maxima:?}");
    }
}

#[test]
fn bad_explicit_problems_are_errors_not_panics() {
    let cfg = ToyConfig {
        tasks: 3,
        input_dim: 4,
        embed_dim: 2,
        ..ToyConfig::default()
    };
    let p = ToyProblem::sample(&cfg);
    let err = run_with_order(&p, &[0, 1, 3], 1, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("task 3"), "{err}");
    let mut q = p.clone();
    q.y = Array2::zeros((2, 2));
    assert!(matches!(
        run_with_order(&q, &[0], 1, &mut |_| {}),
        Err(ToyError::InvalidProblem(_))
    ));
    assert!(run_with_order(&p, &[0], 0, &mut |_| {}).is_err());
    assert!(reawaken_toy::reference::simulate_explicit(&p, &[0], 1, &mut |_| {}).is_err());
}

#[test]
fn choices_parse_and_print() {
    for m in [Mapping::Target, Mapping::Identity] {
        assert_eq!(m.to_string().parse::<Mapping>().unwrap(), m);
    }
    for o in [Order::Cyclic, Order::Shuffled] {
        assert_eq!(o.to_string().parse::<Order>().unwrap(), o);
    }
    let e = "circular".parse::<Order>().unwrap_err().to_string();
    assert!(e.contains("circular") && e.contains("cyclic"), "{e}");
    assert!("Identity".parse::<Mapping>().is_ok());
}

#[test]
fn config_keys_are_the_flag_names() {
    let v = serde_json::to_value(ToyConfig::default()).unwrap();
    let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "embed-dim",
            "epochs",
            "input-dim",
            "loss-reduction",
            "lr",
            "mapping",
            "order",
            "seed",
            "steps",
            "tasks"
        ]
    );
    assert_eq!(v["mapping"], "target");
    let partial: ToyConfig =
        serde_json::from_str(r#"{"input-dim": 20, "order": "shuffled"}"#).unwrap();
    assert_eq!(
        partial,
        ToyConfig {
            input_dim: 20,
            order: Order::Shuffled,
            ..ToyConfig::default()
        }
    );
    assert!(serde_json::from_str::<ToyConfig>(r#"{"input_dim": 20}"#).is_err());
}

#[test]
fn progress_callback_counts_episodes() {
    let cfg = ToyConfig {
        tasks: 4,
        epochs: 3,
        ..ToyConfig::default()
    };
    let mut seen = Vec::new();
    simulate(&cfg, &mut |s| seen.push(s)).unwrap();
    assert_eq!(seen, (1..=12).collect::<Vec<_>>());
}
