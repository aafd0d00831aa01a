//! Statistics of toy runs for docs/toy-model.md: recovery score, task-1 loss in the last
//! epoch, shuffled vs cyclic, size dependence, and the PCA ring of the last-epoch points.
//! Also a timing mode for bench/toy.sh.
//!
//! ```text
//! cargo run --release -p reawaken-toy --example toy_stats -- stats
//! cargo run --release -p reawaken-toy --example toy_stats -- time N M T E LR MAPPING REPS
//! cargo run --release -p reawaken-toy --example toy_stats -- rs-npy FILE.npy...   (RS of numpy losses, T cyclic)
//! ```
//! Exits with an error message (no panic) on bad arguments.

use ndarray::{Array2, ArrayView2, Axis};
use reawaken_toy::{simulate, Mapping, Order, ToyConfig, ToyRun};
use std::time::Instant;

/// RS(n), n = 1..E−1 (docs/records.md), from the analysis layer. None where undefined.
fn recovery_scores(losses: ArrayView2<f64>, order: &[usize], _epochs: usize) -> Vec<Option<f64>> {
    let order: Vec<i64> = order.iter().map(|&t| t as i64).collect();
    reawaken_analysis::recovery_score(&losses, &order).unwrap_or_default()
}

/// Mean loss of the task about to be trained, over epochs 2..E (the analysis layer's
/// online loss).
fn online_loss(losses: ArrayView2<f64>, order: &[usize], _t: usize) -> f64 {
    let order: Vec<i64> = order.iter().map(|&t| t as i64).collect();
    reawaken_analysis::online_loss(&losses, &order)
        .ok()
        .and_then(|o| o.mean_after_first)
        .unwrap_or(f64::NAN)
}

/// (variance fraction of top-2 PCs, ring: number of task-order steps i→i+1 (cyclic) whose
/// angle advances in the dominant direction, winding number).
fn ring_stats(points: ArrayView2<f64>) -> (f64, usize, f64) {
    let t = points.nrows();
    let Ok(p) = reawaken_analysis::pca::pca(&points, 2) else {
        return (f64::NAN, 0, f64::NAN);
    };
    let frac = p.explained_variance_ratio.sum();
    let ang: Vec<f64> = (0..t)
        .map(|i| p.scores[[i, 1]].atan2(p.scores[[i, 0]]))
        .collect();
    let steps: Vec<f64> = (0..t)
        .map(|i| {
            let mut d = ang[(i + 1) % t] - ang[i];
            while d > std::f64::consts::PI {
                d -= 2.0 * std::f64::consts::PI;
            }
            while d < -std::f64::consts::PI {
                d += 2.0 * std::f64::consts::PI;
            }
            d
        })
        .collect();
    let wind = steps.iter().sum::<f64>() / (2.0 * std::f64::consts::PI);
    let pos = steps.iter().filter(|d| **d > 0.0).count();
    let dominant = pos.max(t - pos);
    (frac, dominant, wind)
}

fn fmt_rs(v: &[Option<f64>]) -> String {
    v.iter()
        .map(|x| x.map_or("null".to_string(), |x| format!("{x:.3}")))
        .collect::<Vec<_>>()
        .join(" ")
}

fn run(cfg: &ToyConfig) -> Result<ToyRun, String> {
    simulate(cfg, &mut |_| {}).map_err(|e| e.to_string())
}

fn stats() -> Result<(), String> {
    let seeds = 0..5u64;
    let mut rs_all = Vec::new();
    println!("## defaults (target, N=M=100, T=25, lr=0.01, E=10), cyclic");
    for seed in seeds.clone() {
        let cfg = ToyConfig {
            seed,
            ..ToyConfig::default()
        };
        let r = run(&cfg)?;
        let rs = recovery_scores(r.losses.view(), &r.order, cfg.epochs);
        let on = online_loss(r.losses.view(), &r.order, cfg.tasks);
        let (frac, dom, wind) = ring_stats(r.points.index_axis(Axis(0), cfg.epochs));
        println!(
            "seed {seed}: RS(1..9) = {} | online {on:.3} | last-epoch PCA top2 {frac:.3}, ring steps in order {dom}/{} winding {wind:+.2}",
            fmt_rs(&rs),
            cfg.tasks
        );
        if seed == 0 {
            let e = cfg.epochs;
            let t = cfg.tasks;
            let col: Vec<String> = (((e - 1) * t)..=(e * t))
                .map(|s| format!("{:.2}", r.losses[[s, 0]]))
                .collect();
            println!(
                "  seed 0 task-1 loss over the last epoch (rows {}..={}): {}",
                (e - 1) * t,
                e * t,
                col.join(" ")
            );
            for ep in 0..=e {
                let (frac, dom, wind) = ring_stats(r.points.index_axis(Axis(0), ep));
                println!(
                    "  epoch {ep}: PCA top2 {frac:.3}, ring steps {dom}/{t}, winding {wind:+.2}"
                );
            }
        }
        rs_all.push(rs);
    }
    let mean = |k: usize| rs_all.iter().filter_map(|v| v[k]).sum::<f64>() / rs_all.len() as f64;
    println!(
        "mean over seeds: RS(1) = {:.3}, RS(9) = {:.3}",
        mean(0),
        mean(8)
    );

    println!("## shuffled order (same data)");
    let mut s_rs = Vec::new();
    for seed in seeds.clone() {
        let cfg_c = ToyConfig {
            seed,
            ..ToyConfig::default()
        };
        let cfg_s = ToyConfig {
            seed,
            order: Order::Shuffled,
            ..ToyConfig::default()
        };
        let (rc, rsh) = (run(&cfg_c)?, run(&cfg_s)?);
        let rs = recovery_scores(rsh.losses.view(), &rsh.order, 10);
        println!(
            "seed {seed}: shuffled RS(1..9) = {} | online shuffled {:.3} vs cyclic {:.3}",
            fmt_rs(&rs),
            online_loss(rsh.losses.view(), &rsh.order, 25),
            online_loss(rc.losses.view(), &rc.order, 25)
        );
        s_rs.push(rs[8].unwrap_or(f64::NAN));
    }
    println!(
        "mean shuffled RS(9) = {:.3}",
        s_rs.iter().sum::<f64>() / s_rs.len() as f64
    );

    for (n, lr) in [(20usize, 0.01), (400, 0.0025)] {
        let mut v = Vec::new();
        for seed in seeds.clone() {
            let cfg = ToyConfig {
                seed,
                input_dim: n,
                embed_dim: n,
                lr,
                ..ToyConfig::default()
            };
            let r = run(&cfg)?;
            v.push(recovery_scores(r.losses.view(), &r.order, 10)[8].unwrap_or(f64::NAN));
        }
        println!(
            "## N=M={n}, lr={lr}: RS(9) per seed {:?}, mean {:.3}",
            v.iter()
                .map(|x| (x * 1000.0).round() / 1000.0)
                .collect::<Vec<_>>(),
            v.iter().sum::<f64>() / v.len() as f64
        );
    }
    for seed in seeds {
        let cfg = ToyConfig {
            seed,
            mapping: Mapping::Identity,
            input_dim: 1000,
            embed_dim: 1000,
            lr: 0.001,
            ..ToyConfig::default()
        };
        let r = run(&cfg)?;
        println!(
            "## identity N=M=1000 lr=0.001 seed {seed}: RS(1..9) = {}",
            fmt_rs(&recovery_scores(r.losses.view(), &r.order, 10))
        );
    }
    Ok(())
}

fn arg<T: std::str::FromStr>(a: &[String], i: usize, name: &str) -> Result<T, String> {
    a.get(i)
        .ok_or_else(|| format!("missing argument {name}"))?
        .parse()
        .map_err(|_| format!("bad value for {name}: {:?}", a.get(i)))
}

/// time N M T E LR MAPPING REPS: in-process compute time (sampling + simulation) per run.
fn time(a: &[String]) -> Result<(), String> {
    let cfg = ToyConfig {
        input_dim: arg(a, 0, "N")?,
        embed_dim: arg(a, 1, "M")?,
        tasks: arg(a, 2, "T")?,
        epochs: arg(a, 3, "E")?,
        lr: arg(a, 4, "LR")?,
        mapping: a
            .get(5)
            .ok_or("missing MAPPING")?
            .parse()
            .map_err(|e| format!("{e}"))?,
        ..ToyConfig::default()
    };
    let reps: usize = arg(a, 6, "REPS")?;
    let mut times = Vec::new();
    let mut check = 0.0;
    for rep in 0..reps {
        let c = ToyConfig {
            seed: rep as u64,
            ..cfg.clone()
        };
        let t0 = Instant::now();
        let r = run(&c)?;
        times.push(t0.elapsed().as_secs_f64());
        check += r.losses.sum();
    }
    times.sort_by(f64::total_cmp);
    println!(
        "rust compute N={} M={} T={} E={}: median {:.6} s min {:.6} s over {reps} reps (checksum {check:.3e})",
        cfg.input_dim, cfg.embed_dim, cfg.tasks, cfg.epochs, times[times.len() / 2], times[0]
    );
    Ok(())
}

/// xcheck FIRST LAST [N M LR MAPPING ORDER]: mean ± standard error over seeds of RS(1),
/// RS(E−1), online loss and the task-1 peak loss in the last epoch (same summary as
/// `bench/toy_numpy.py --seeds FIRST LAST`).
fn xcheck(a: &[String]) -> Result<(), String> {
    let (first, last): (u64, u64) = (arg(a, 0, "FIRST")?, arg(a, 1, "LAST")?);
    let mut base = ToyConfig::default();
    if a.len() > 2 {
        base.input_dim = arg(a, 2, "N")?;
        base.embed_dim = arg(a, 3, "M")?;
        base.lr = arg(a, 4, "LR")?;
        base.mapping = a
            .get(5)
            .ok_or("missing MAPPING")?
            .parse()
            .map_err(|e| format!("{e}"))?;
        base.order = a
            .get(6)
            .ok_or("missing ORDER")?
            .parse()
            .map_err(|e| format!("{e}"))?;
    }
    let (t, e) = (base.tasks, base.epochs);
    let mut rows: Vec<[f64; 4]> = Vec::new();
    for seed in first..=last {
        let r = run(&ToyConfig {
            seed,
            ..base.clone()
        })?;
        let rs = recovery_scores(r.losses.view(), &r.order, e);
        let peak = ((e - 1) * t..=e * t)
            .map(|s| r.losses[[s, 0]])
            .fold(f64::NEG_INFINITY, f64::max);
        rows.push([
            rs[0].unwrap_or(f64::NAN),
            rs[e - 2].unwrap_or(f64::NAN),
            online_loss(r.losses.view(), &r.order, t),
            peak,
        ]);
    }
    let k = rows.len() as f64;
    let names = [
        "RS(1)".to_string(),
        format!("RS({})", e - 1),
        "online".into(),
        "task1-peak".into(),
    ];
    let parts: Vec<String> = (0..4)
        .map(|c| {
            let mean = rows.iter().map(|r| r[c]).sum::<f64>() / k;
            let var = rows.iter().map(|r| (r[c] - mean).powi(2)).sum::<f64>() / (k - 1.0).max(1.0);
            format!("{} {mean:.3} ± {:.3}", names[c], (var / k).sqrt())
        })
        .collect();
    println!("rust seeds {first}..={last}: {}", parts.join(", "));
    Ok(())
}

/// drift E [MAPPING]: fast path vs explicit-P reference from the same P0 at the default sizes
/// over E epochs: the largest loss difference relative to its row's largest loss, and the
/// largest point difference relative to the largest point coordinate.
fn drift(a: &[String]) -> Result<(), String> {
    let epochs: usize = arg(a, 0, "E")?;
    let mapping: Mapping = match a.get(1) {
        Some(m) => m.parse().map_err(|e| format!("{e}"))?,
        None => Mapping::Target,
    };
    let cfg = ToyConfig {
        epochs,
        mapping,
        ..ToyConfig::default()
    };
    let problem = reawaken_toy::ToyProblem::sample_explicit(&cfg);
    let order = reawaken_toy::make_order(&cfg);
    let t0 = Instant::now();
    let fast = reawaken_toy::run_with_order(&problem, &order, 1, &mut |_| {})
        .map_err(|e| e.to_string())?;
    let tf = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let slow = reawaken_toy::reference::simulate_explicit(&problem, &order, 1, &mut |_| {})
        .map_err(|e| e.to_string())?;
    let ts = t0.elapsed().as_secs_f64();
    let mut worst: f64 = 0.0;
    for (rf, rs) in fast.losses.rows().into_iter().zip(slow.losses.rows()) {
        let scale = rs.iter().fold(1e-300f64, |x, y| x.max(*y));
        for (x, y) in rf.iter().zip(rs.iter()) {
            worst = worst.max((x - y).abs() / scale);
        }
    }
    let pscale = slow.points.iter().fold(1e-300f64, |x, y| x.max(y.abs()));
    let pworst = fast
        .points
        .iter()
        .zip(slow.points.iter())
        .fold(0.0f64, |d, (x, y)| d.max((x - y).abs()))
        / pscale;
    println!(
        "drift {mapping} E={epochs}: max loss diff / row max = {worst:.2e}, max point diff / max |point| = {pworst:.2e} \
         (fast {tf:.4} s, explicit {ts:.3} s)"
    );
    Ok(())
}

/// rs-npy FILE...: RS(1..E-1) of float64/float32 .npy loss matrices from bench/toy_numpy.py (cyclic).
fn rs_npy(files: &[String]) -> Result<(), String> {
    for f in files {
        let m: Array2<f64> =
            reawaken_analysis::record::read_npy_f64(f).map_err(|e| e.to_string())?;
        let t = m.ncols();
        let e = (m.nrows() - 1) / t;
        let order: Vec<usize> = (0..e).flat_map(|_| 0..t).collect();
        println!(
            "{f}: RS(1..{}) = {}",
            e - 1,
            fmt_rs(&recovery_scores(m.view(), &order, e))
        );
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let res = match a.first().map(String::as_str) {
        Some("stats") => stats(),
        Some("time") => time(&a[1..]),
        Some("rs-npy") => rs_npy(&a[1..]),
        Some("xcheck") => xcheck(&a[1..]),
        Some("drift") => drift(&a[1..]),
        _ => {
            Err("usage: toy_stats stats | time N M T E LR MAPPING REPS | rs-npy FILE.npy...".into())
        }
    };
    match res {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
