//! Hand-made run records (toy- and LLM-shaped) for the tests of `reawaken-figures`; the
//! `reawaken` crate's `tests/figures.rs` includes this file too (`#[path]`), so that the
//! command-line tests write the same records.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::{Array1, Array2, Array3};
use ndarray_npy::write_npy;
use serde_json::json;

/// Tasks per epoch.
pub const T: usize = 5;
/// Epochs.
pub const E: usize = 4;

/// Cyclic (or seeded-shuffled) order over E epochs of T tasks.
pub fn make_order(shuffled: bool, seed: u64) -> Vec<i64> {
    let mut out = Vec::new();
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    for _ in 0..E {
        let mut ep: Vec<i64> = (0..T as i64).collect();
        if shuffled {
            for i in (1..T).rev() {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                let j = (state >> 33) as usize % (i + 1);
                ep.swap(i, j);
            }
        }
        out.extend(ep);
    }
    out
}

/// Loss matrix with anticipatory-recovery-like shape: drops when trained, rises, falls.
pub fn make_losses(order: &[i64], seed: u64) -> Array2<f32> {
    let mut l = Array2::<f32>::zeros((order.len() + 1, T));
    let mut last = [None::<usize>; T];
    for s in 0..=order.len() {
        for t in 0..T {
            let v = match last[t] {
                None => 4.0,
                Some(k) => {
                    let d = (s - k) as f32 / T as f32;
                    1.0 + 2.0 * (std::f32::consts::PI * d.min(1.0)).sin()
                }
            };
            l[[s, t]] = v + 0.01 * seed as f32 + 0.05 * t as f32;
        }
        if s < order.len() {
            last[order[s] as usize] = Some(s + 1);
        }
    }
    l
}

/// Writes a complete run record of `kind` into `dir`: losses, order, and a run.json
/// whose config has `extra` on top of the defaults and lists `arrays`.
pub fn write_run(
    dir: &Path,
    kind: &str,
    seed: u64,
    shuffled: bool,
    extra: &[(&str, serde_json::Value)],
    arrays: &[&str],
) {
    std::fs::create_dir_all(dir).unwrap();
    let order = make_order(shuffled, seed);
    write_npy(dir.join("losses.npy"), &make_losses(&order, seed)).unwrap();
    write_npy(dir.join("order.npy"), &Array1::from(order)).unwrap();
    let mut config = serde_json::Map::new();
    config.insert("seed".into(), json!(seed));
    config.insert("tasks".into(), json!(T));
    config.insert("epochs".into(), json!(E));
    config.insert(
        "order".into(),
        json!(if shuffled { "shuffled" } else { "cyclic" }),
    );
    config.insert("input-dim".into(), json!(10));
    for (k, v) in extra {
        config.insert((*k).into(), v.clone());
    }
    let listed: BTreeMap<&str, &str> = arrays.iter().map(|a| (*a, "test array")).collect();
    let run = json!({
        "tool": "reawaken", "version": "test", "kind": kind, "config": config, "seed": seed,
        "status": "complete",
        "timings": {"started": "2026-01-01T00:00:00Z", "started_unix": 1767225600.0},
        "metrics": {"recovery_score": [0.2 + 0.1 * seed as f64, 0.5, null], "online_loss_mean": 1.5},
        "arrays": listed,
    });
    std::fs::write(
        dir.join("run.json"),
        serde_json::to_string_pretty(&run).unwrap(),
    )
    .unwrap();
}

/// Writes a toy `points.npy` (E+1, T, 6): a ring in the first two coordinates.
pub fn write_points(dir: &Path) {
    let m = 6;
    let p = Array3::<f32>::from_shape_fn((E + 1, T, m), |(e, i, j)| {
        let a = 2.0 * std::f32::consts::PI * i as f32 / T as f32;
        match j {
            0 => a.cos() * (1.0 + e as f32),
            1 => a.sin() * (1.0 + e as f32),
            _ => 0.1 * ((i * 7 + j * 3 + e) % 5) as f32,
        }
    });
    write_npy(dir.join("points.npy"), &p).unwrap();
}

/// The recorder arrays of an LLM record.
/// The toy records most figure tests start from, under `dir`: two seeds of the reference
/// (`s0` with `points.npy`, `s1`), its shuffled twin (`shuf`) and one input-dim sweep
/// member (`n20`).
pub fn write_toy_set(dir: &Path) {
    let d = |n: &str| dir.join(n);
    write_run(&d("s0"), "toy", 0, false, &[], &["points.npy"]);
    write_points(&d("s0"));
    write_run(&d("s1"), "toy", 1, false, &[], &[]);
    write_run(&d("shuf"), "toy", 0, true, &[], &[]);
    write_run(&d("n20"), "toy", 0, false, &[("input-dim", json!(20))], &[]);
}

/// The SVG attributes that hold coordinates or sizes (numbers, or number lists).
pub const NUMERIC_ATTRIBUTES: &[&str] = &[
    "x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r", "width", "height", "points",
];

pub const LLM_ARRAYS: &[&str] = &[
    "grad_cosine.npy",
    "pairwise.npy",
    "weights_residual_cosine.npy",
    "weights_pca.npy",
    "weights_update_norm.npy",
    "acts_cosine.npy",
    "acts_change_norm.npy",
];

/// Writes every array of [`LLM_ARRAYS`] into `dir`.
pub fn write_llm_arrays(dir: &Path) {
    let n = T * E + 1;
    let sym = |k: usize| {
        Array2::<f32>::from_shape_fn((k, k), |(i, j)| ((i as f32 - j as f32) / 3.0).cos())
    };
    write_npy(dir.join("grad_cosine.npy"), &sym(T)).unwrap();
    write_npy(dir.join("pairwise.npy"), &sym(T).mapv(|v| v - 0.3)).unwrap();
    write_npy(dir.join("weights_residual_cosine.npy"), &sym(n)).unwrap();
    write_npy(dir.join("acts_cosine.npy"), &sym(n)).unwrap();
    let pca = Array2::<f32>::from_shape_fn((n, 3), |(i, j)| ((i + j) as f32 * 0.7).sin());
    write_npy(dir.join("weights_pca.npy"), &pca).unwrap();
    let norms = Array1::<f32>::from_shape_fn(n - 1, |i| 1.0 + (i % T) as f32 * 0.1);
    write_npy(dir.join("weights_update_norm.npy"), &norms).unwrap();
    write_npy(dir.join("acts_change_norm.npy"), &norms.mapv(|v| v * 2.0)).unwrap();
}
