//! Property tests of the axis functions (`plot::axis`) and of the drawing primitives on
//! random extreme values: ±1e308, ±f64::MAX, 1e-308, subnormals, NaN, ±inf, values a few
//! ulps apart, ordinary numbers. Every run is bounded (a thread that must answer in
//! time): the tick search must end with a bounded number of finite ticks for any input,
//! a checked axis must be finite and hold its data (or be refused as `Unplottable`),
//! and for every accepted axis the ticks must be plotters' own (ordinary figures are
//! unchanged).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use plotters::coord::ranged1d::Ranged;
use plotters::coord::types::RangedCoordf64;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reawaken_figures::plot::axis::{
    axis_problem, padded, robust_mean_sd, ticks, too_narrow, Axis, MAX_AXIS_END, MAX_AXIS_SPAN,
};
use reawaken_figures::plot::{self, Heatmap, LineChart, Segment3, Series, Trajectory3};
use reawaken_figures::FigureError;

/// Runs `f` in a thread; fails when it does not answer within `secs` seconds.
fn bounded(secs: u64, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(r.map_err(|e| {
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        }));
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(Ok(())) => {}
        Ok(Err(msg)) => panic!("{msg}"),
        Err(_) => panic!("did not end within {secs} s"),
    }
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Extreme and ordinary f64 values, NaN and infinities included.
fn value() -> BoxedStrategy<f64> {
    prop_oneof![
        prop::sample::select(vec![
            1e308,
            -1e308,
            f64::MAX,
            f64::MIN,
            1.7e308,
            -1.7e308,
            1e-308,
            -1e-308,
            5e-324,
            -5e-324,
            f64::MIN_POSITIVE,
            0.0,
            -0.0,
            1.0,
            1e20,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ]),
        any::<f64>(),
        -1e6..1e6f64,
        (-308i32..=308, any::<bool>()).prop_map(|(e, neg)| {
            let v = 10f64.powi(e);
            if neg {
                -v
            } else {
                v
            }
        }),
    ]
    .boxed()
}

/// Finite values only.
fn finite() -> BoxedStrategy<f64> {
    value().prop_filter("finite", |v| v.is_finite()).boxed()
}

/// Two values: independent, or the second a few ulps (up to 2^20) above the first.
fn pair(v: BoxedStrategy<f64>) -> impl Strategy<Value = (f64, f64)> {
    prop_oneof![
        (v.clone(), v.clone()),
        (v, 0u64..(1 << 20)).prop_map(|(x, k)| {
            let y = if x >= 0.0 {
                f64::from_bits(x.to_bits().saturating_add(k))
            } else {
                f64::from_bits(x.to_bits().saturating_sub(k))
            };
            (x, if y.is_nan() { x } else { y })
        }),
    ]
}

#[test]
fn ticks_end_bounded_and_finite_for_any_range() {
    static CASES: AtomicUsize = AtomicUsize::new(0);
    bounded(120, || {
        runner(20_000)
            .run(&(pair(value()), 0usize..300), |((a, b), n)| {
                CASES.fetch_add(1, Ordering::Relaxed);
                let t = ticks(a, b, n);
                prop_assert!(
                    t.len() <= 2 * n + 2,
                    "{a:e}..{b:e} ({n}): {} ticks",
                    t.len()
                );
                prop_assert!(t.iter().all(|v| v.is_finite()), "{a:e}..{b:e}: {t:?}");
                Ok(())
            })
            .unwrap();
    });
    eprintln!(
        "ticks_end_bounded_and_finite_for_any_range: {} cases",
        CASES.load(Ordering::Relaxed)
    );
}

#[test]
fn checked_axes_are_finite_hold_their_data_and_tick_like_plotters() {
    static CASES: AtomicUsize = AtomicUsize::new(0);
    static REFUSED: AtomicUsize = AtomicUsize::new(0);
    static PLOTTERS_NONE: AtomicUsize = AtomicUsize::new(0);
    bounded(240, || {
        let strat = (
            pair(finite()),
            prop::sample::select(vec![0.0, 0.05, 0.06]),
            prop::sample::select(vec![2usize, 6, 8, 11, 60, 80]),
        );
        runner(10_000)
            .run(&strat, |((a, b), frac, n)| {
                CASES.fetch_add(1, Ordering::Relaxed);
                let (lo, hi) = (a.min(b), a.max(b));
                match Axis::over((lo, hi), frac, || "x".into()) {
                    Ok(axis) => {
                        let (x0, x1) = axis.span();
                        prop_assert!(x0.is_finite() && x1.is_finite() && x0 < x1);
                        prop_assert!(x1 - x0 <= MAX_AXIS_SPAN);
                        prop_assert!(x0.abs() <= MAX_AXIS_END && x1.abs() <= MAX_AXIS_END);
                        prop_assert!(x0 <= lo && hi <= x1, "{lo:e}..{hi:e} in {x0:e}..{x1:e}");
                        prop_assert!(!too_narrow(x0, x1));
                        let t = ticks(x0, x1, n);
                        prop_assert!(!t.is_empty() && t.len() <= 2 * n + 2, "{t:?}");
                        let tol = (x1 - x0) * 1e-6;
                        prop_assert!(
                            t.iter().all(|v| *v >= x0 - tol && *v <= x1 + tol),
                            "{x0:e}..{x1:e}: {t:?}"
                        );
                        // Plotters' search is safe on the ranges accepted and gives
                        // the same ticks (a hang here fails the bound above), or none
                        // where a step overflows near ±f64::MAX (then ours are the ends).
                        let theirs = RangedCoordf64::from(x0..x1).key_points(n);
                        if theirs.is_empty() {
                            PLOTTERS_NONE.fetch_add(1, Ordering::Relaxed);
                            prop_assert_eq!(t, vec![x0, x1]);
                        } else {
                            prop_assert_eq!(t, theirs);
                        }
                    }
                    Err(FigureError::Unplottable { .. }) => {
                        REFUSED.fetch_add(1, Ordering::Relaxed);
                        // Only data wider than half of f64 is refused.
                        prop_assert!(lo.abs().max(hi.abs()) > 5e307, "{lo:e}..{hi:e} refused");
                        prop_assert!(axis_problem(padded(lo, hi, frac)).is_some());
                    }
                    Err(e) => prop_assert!(false, "unexpected error {e}"),
                }
                Ok(())
            })
            .unwrap();
    });
    eprintln!(
        "checked_axes_are_finite_hold_their_data_and_tick_like_plotters: {} cases, {} refused, {} where plotters gives no tick",
        CASES.load(Ordering::Relaxed),
        REFUSED.load(Ordering::Relaxed),
        PLOTTERS_NONE.load(Ordering::Relaxed)
    );
}

#[test]
fn mean_and_sd_of_extreme_values_do_not_overflow() {
    static CASES: AtomicUsize = AtomicUsize::new(0);
    bounded(60, || {
        runner(5_000)
            .run(&prop::collection::vec(finite(), 1..12), |v| {
                CASES.fetch_add(1, Ordering::Relaxed);
                let (m, sd) = robust_mean_sd(&v).unwrap();
                let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                prop_assert!(m.is_finite(), "{v:?}: mean {m}");
                // Rounding may put the mean an ulp or so outside.
                let slack = (hi - lo).abs().min(f64::MAX) * 1e-12 + 1e-300;
                prop_assert!(m >= lo - slack && m <= hi + slack, "{v:?}: {m}");
                if let Some(sd) = sd {
                    prop_assert!(sd >= 0.0, "{v:?}: sd {sd}");
                }
                Ok(())
            })
            .unwrap();
    });
    eprintln!(
        "mean_and_sd_of_extreme_values_do_not_overflow: {} cases",
        CASES.load(Ordering::Relaxed)
    );
}

/// Asserts that an SVG has no NaN, no inf and only finite numbers in coordinates.
fn assert_sound_svg(svg: &str) -> Result<(), TestCaseError> {
    prop_assert!(!svg.contains("NaN") && !svg.contains("inf"));
    for attr in [
        " x=\"",
        " y=\"",
        " cx=\"",
        " cy=\"",
        " points=\"",
        " width=\"",
        " height=\"",
    ] {
        for part in svg.split(attr).skip(1) {
            let val = part.split('"').next().unwrap_or("");
            for tok in val.split([' ', ',']).filter(|t| !t.is_empty()) {
                let v: f64 = tok
                    .parse()
                    .map_err(|_| TestCaseError::fail(format!("{attr}{val}")))?;
                prop_assert!(v.is_finite());
            }
        }
    }
    Ok(())
}

/// What a primitive may answer for extreme data: an SVG, or a note-worthy error.
fn check_drawn(r: Result<String, FigureError>) -> Result<bool, TestCaseError> {
    match r {
        Ok(svg) => {
            assert_sound_svg(&svg)?;
            Ok(true)
        }
        Err(FigureError::Unplottable { .. } | FigureError::Empty(_)) => Ok(false),
        Err(e) => Err(TestCaseError::fail(format!("unexpected error {e}"))),
    }
}

#[test]
fn primitives_draw_extreme_values_soundly_or_refuse() {
    static CASES: AtomicUsize = AtomicUsize::new(0);
    static DRAWN: AtomicUsize = AtomicUsize::new(0);
    bounded(300, || {
        let strat = (
            prop::collection::vec(value(), 1..10),
            prop::collection::vec(value(), 1..10),
            prop::collection::vec(value(), 1..10),
        );
        runner(300)
            .run(&strat, |(y, sd, z)| {
                CASES.fetch_add(1, Ordering::Relaxed);
                let n = y.len();
                let chart = LineChart {
                    title: "fuzz".into(),
                    series: vec![
                        Series {
                            name: "a".into(),
                            x: (0..n).map(|i| i as f64).collect(),
                            y: y.clone(),
                            sd: Some(sd.iter().copied().cycle().take(n).collect()),
                            markers: vec![(0.0, y[0])],
                            error_bars: vec![(0.0, sd[0], z[0])],
                            dots: true,
                        },
                        Series {
                            name: "b".into(),
                            x: z.clone(),
                            y: sd.clone(),
                            ..Default::default()
                        },
                    ],
                    hlines: vec![0.0, 1.0],
                    ..Default::default()
                };
                let mut drawn = check_drawn(plot::line_chart(&chart))?;
                let k = y.len().min(sd.len());
                let values: Vec<f64> = (0..k * k)
                    .map(|i| [&y, &sd, &z][i % 3][i % k.min(z.len())])
                    .collect();
                let h = Heatmap {
                    title: "fuzz".into(),
                    x_label: "j".into(),
                    y_label: "i".into(),
                    value_label: "v".into(),
                    values,
                    rows: k,
                    cols: k,
                    index_base: 1,
                };
                drawn |= check_drawn(plot::heatmap(&h))?;
                let m = y.len().min(sd.len()).min(z.len());
                let t = Trajectory3 {
                    title: "fuzz".into(),
                    axis_names: ["a".into(), "b".into(), "c".into()],
                    segments: vec![Segment3 {
                        name: "s".into(),
                        points: (0..m).map(|i| (y[i], sd[i], z[i])).collect(),
                    }],
                };
                drawn |= check_drawn(plot::trajectory3(&t))?;
                let ring = plot::RingPanel {
                    caption: "r".into(),
                    points: (0..m).map(|i| (y[i], z[i])).collect(),
                };
                drawn |= check_drawn(plot::ring_grid("fuzz", &[ring], m))?;
                if drawn {
                    DRAWN.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            })
            .unwrap();
    });
    eprintln!(
        "primitives_draw_extreme_values_soundly_or_refuse: {} cases, {} with at least one SVG",
        CASES.load(Ordering::Relaxed),
        DRAWN.load(Ordering::Relaxed)
    );
}
