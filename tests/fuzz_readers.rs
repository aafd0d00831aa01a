//! Property-based fuzzing of the readers that take user files in the root package:
//! `--config` TOML (toy, and llm with the `llm` feature), `.npy` arrays and `run.json` as
//! read by `RunDir` / `record::read_npy*` and by `figures render` (`reawaken_figures::load_run`).
//!
//! Inputs are random bytes and *mutations of valid files* (truncation, byte flips, header
//! length lies, huge dims, wrong dtype strings, NaN/inf, deeply nested JSON). The property:
//! the reader returns `Ok` or a typed error — never a panic — and never asks the allocator
//! for an absurd amount of memory (a counting global allocator records the largest single
//! request; see `no_huge_allocation_*`).
//!
//! The default number of cases is small so that `cargo test` stays fast; run long with
//! `PROPTEST_CASES=20000 cargo test --release -p reawaken --test fuzz_readers`
//! (see docs/fuzzing.md).

use reawaken_testkit::npy_v1;
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, Ix1, Ix2, IxDyn};
use proptest::prelude::*;
use reawaken_analysis::record::{self, parse_npy_header, RunDir};
use reawaken_analysis::settings::parse_toml;
use reawaken_figures::input::{load_run, read_float};
use reawaken_toy::ToyConfig as SimulateConfig;

use reawaken_testkit::alloc::{assert_allocation_sane, Counting};
use reawaken_testkit::fuzz::{fuzz_bytes as fuzz_input, report, runner};

#[global_allocator]
static GLOBAL: Counting = Counting;

// ---------------------------------------------------------------------------------
// .npy

fn npy_bytes<A: ndarray_npy::WritableElement, D: ndarray::Dimension>(
    a: &ndarray::Array<A, D>,
) -> Vec<u8> {
    use ndarray_npy::WriteNpyExt;
    let mut out = Vec::new();
    a.write_npy(&mut out).unwrap();
    out
}

fn valid_npys() -> Vec<Vec<u8>> {
    let losses = Array2::<f32>::from_shape_fn((5, 4), |(i, j)| (i * 4 + j) as f32 * 0.25);
    let order = Array1::<i64>::from(vec![0, 1, 2, 3]);
    let f64s = Array2::<f64>::from_shape_fn((3, 3), |(i, j)| (i as f64) - (j as f64));
    let nan = Array1::<f32>::from(vec![f32::NAN, f32::INFINITY, -f32::INFINITY, 0.0]);
    vec![
        npy_bytes(&losses),
        npy_bytes(&order),
        npy_bytes(&f64s),
        npy_bytes(&nan),
        npy_v1(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }",
            &[0; 16],
        ),
        npy_v1(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
            &[0; 16],
        ),
        npy_v1(
            "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
            &[0; 16],
        ),
    ]
}

/// Lying headers: each promises far more data than the file holds.
fn lying_npys() -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for descr in ["<f4", "<f8", "<i8", "<i4"] {
        for shape in [
            "(1073741824,)",
            "(1099511627776,)",
            "(65536, 65536)",
            "(4294967296, 4294967296)",
            "(18446744073709551615,)",
            "(3037000500, 3037000500)",
        ] {
            v.push(npy_v1(
                &format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"),
                &[0; 64],
            ));
        }
    }
    v
}

struct Scratch {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn scratch() -> Scratch {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    Scratch { _dir: dir, path }
}

fn read_all_npy_ways(p: &Path) {
    let _ = record::read_npy::<f32, Ix2>(p);
    let _ = record::read_npy::<i64, Ix1>(p);
    let _ = record::read_npy::<f64, IxDyn>(p);
    let _ = record::read_npy_f64::<Ix2>(p);
    let _ = record::read_npy_header(p);
    let _ = read_float(p);
}

#[test]
fn fuzz_npy_header_parser() {
    let mut r = runner(512);
    let n = std::cell::Cell::new(0usize);
    r.run(&fuzz_input(valid_npys()), |bytes| {
        n.set(n.get() + 1);
        if let Ok(h) = parse_npy_header(&bytes) {
            prop_assert!(h.data_offset <= bytes.len());
            let _ = h.item_size();
            let _ = h.dtype_name();
        }
        Ok(())
    })
    .unwrap();
    report("npy_header", n.get());
}

#[test]
fn fuzz_npy_readers() {
    let s = scratch();
    let p = s.path.join("losses.npy");
    let mut r = runner(128);
    let n = std::cell::Cell::new(0usize);
    r.run(&fuzz_input(valid_npys()), |bytes| {
        n.set(n.get() + 1);
        std::fs::write(&p, &bytes).unwrap();
        read_all_npy_ways(&p);
        Ok(())
    })
    .unwrap();
    assert_allocation_sane("npy readers");
    report("npy_readers", n.get());
}

#[test]
fn no_huge_allocation_on_lying_npy_headers_record() {
    let s = scratch();
    let p = s.path.join("lie.npy");
    for bytes in lying_npys() {
        std::fs::write(&p, &bytes).unwrap();
        let e = record::read_npy::<f32, IxDyn>(&p).unwrap_err().to_string();
        assert!(e.contains("lie.npy"), "{e}");
        let _ = record::read_npy::<f64, Ix2>(&p);
        let _ = record::read_npy::<i64, Ix1>(&p);
        let _ = record::read_npy_f64::<IxDyn>(&p);
    }
    assert_allocation_sane("record::read_npy on lying headers");
}

/// Regression: `figures::input::read_float` once called `ndarray_npy::read_npy` directly
/// and aborted the process ("memory allocation of 4398046511104 bytes failed").
#[test]
fn no_huge_allocation_on_lying_npy_headers_figures() {
    let s = scratch();
    let p = s.path.join("lie.npy");
    for bytes in lying_npys() {
        std::fs::write(&p, &bytes).unwrap();
        assert!(read_float(&p).is_err());
    }
    assert_allocation_sane("figures::input::read_float on lying headers");
}

// ---------------------------------------------------------------------------------
// run.json + arrays, as read by `figures render` (load_run) and RunDir

fn valid_run_json() -> Vec<Vec<u8>> {
    let full = serde_json::json!({
        "tool": "reawaken", "version": "0.1.0", "kind": "toy",
        "config": {"tasks": 4, "epochs": 1, "seed": 3, "order": "cyclic", "lr": 0.01},
        "seed": 3, "status": "complete",
        "timings": {"started": "2026-01-01T00:00:00Z", "started_unix": 1767225600.0, "seconds": 1.5},
        "metrics": {"recovery_score": [0.5, null], "online_loss_mean": 1.25},
        "arrays": {"losses.npy": "losses", "order.npy": "order", "points.npy": "ring"}
    });
    let llm = serde_json::json!({
        "tool": "reawaken", "version": "0.1.0", "kind": "llm",
        "config": {"tasks": 4, "epochs": 1, "seed": 0, "record": "all"},
        "seed": 0, "status": "complete",
        "timings": {"started": "2026-01-01T00:00:00Z", "started_unix": 1767225600.0},
        "metrics": {"recovery_score": [], "online_loss_mean": null},
        "arrays": {"grad_cosine.npy": "g", "pairwise.npy": "p"}
    });
    let mut deep = String::new();
    for _ in 0..2000 {
        deep.push('[');
    }
    let mut deep_obj = String::from("{\"kind\":\"toy\",\"config\":");
    for _ in 0..300 {
        deep_obj.push_str("{\"a\":");
    }
    deep_obj.push('1');
    for _ in 0..300 {
        deep_obj.push('}');
    }
    deep_obj.push('}');
    vec![
        serde_json::to_vec_pretty(&full).unwrap(),
        serde_json::to_vec(&llm).unwrap(),
        deep.into_bytes(),
        deep_obj.into_bytes(),
        br#"{"kind":"toy","config":{},"seed":1e999,"status":"complete","metrics":{"recovery_score":[NaN]}}"#.to_vec(),
    ]
}

#[test]
fn fuzz_run_json_readers() {
    let s = scratch();
    let dir = s.path.join("run");
    std::fs::create_dir_all(&dir).unwrap();
    let order = Array1::<i64>::from(vec![0, 1, 2, 3]);
    let losses = Array2::<f32>::from_shape_fn((5, 4), |(i, j)| (i + j) as f32);
    std::fs::write(dir.join("order.npy"), npy_bytes(&order)).unwrap();
    std::fs::write(dir.join("losses.npy"), npy_bytes(&losses)).unwrap();
    let mut r = runner(256);
    let n = std::cell::Cell::new(0usize);
    r.run(&fuzz_input(valid_run_json()), |bytes| {
        n.set(n.get() + 1);
        std::fs::write(dir.join("run.json"), &bytes).unwrap();
        let _ = load_run(&dir);
        if let Ok(rd) = RunDir::open(&dir) {
            if let Ok(info) = rd.read_run_info() {
                let _ = info.config_diff(&serde_json::json!({"tasks": 5}));
            }
            let _ = rd.read_json::<serde_json::Value>("run.json");
        }
        Ok(())
    })
    .unwrap();
    assert_allocation_sane("run.json readers");
    report("run_json", n.get());
}

/// A whole run directory: valid run.json, and losses/order mutated together.
#[test]
fn fuzz_run_dir_arrays() {
    let s = scratch();
    let dir = s.path.join("run");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("run.json"), &valid_run_json()[0]).unwrap();
    let order = npy_bytes(&Array1::<i64>::from(vec![0, 1, 2, 3]));
    let order_bad = npy_bytes(&Array1::<i64>::from(vec![0, -7, 99, i64::MAX]));
    let order_i32 = npy_bytes(&Array1::<i32>::from(vec![0, 1, 2, 3]));
    let losses = npy_bytes(&Array2::<f32>::from_shape_fn((5, 4), |(i, j)| {
        (i + j) as f32
    }));
    let losses_nan = npy_bytes(&Array2::<f64>::from_elem((5, 4), f64::NAN));
    let points = npy_bytes(&ndarray::Array3::<f32>::zeros((2, 4, 3)));
    let mut pool = valid_npys();
    pool.extend([order, order_bad, order_i32, losses, losses_nan, points]);
    let mut r = runner(128);
    let n = std::cell::Cell::new(0usize);
    let strat = (fuzz_input(pool.clone()), fuzz_input(pool));
    r.run(&strat, |(l, o)| {
        n.set(n.get() + 1);
        std::fs::write(dir.join("losses.npy"), &l).unwrap();
        std::fs::write(dir.join("order.npy"), &o).unwrap();
        if let Ok(run) = load_run(&dir) {
            let _ = run.tasks();
            let _ = run.order_name();
            let _ = run.optional3("points.npy");
        }
        Ok(())
    })
    .unwrap();
    assert_allocation_sane("run dir arrays");
    report("run_dir_arrays", n.get());
}

// ---------------------------------------------------------------------------------
// --config TOML

fn valid_toy_toml() -> Vec<Vec<u8>> {
    vec![
        b"seed = 3\ntasks = 25\ninput-dim = 100\nembed-dim = 100\nlr = 0.01\nmapping = \"target\"\nepochs = 5\nsteps = 1\norder = \"cyclic\"\n".to_vec(),
        b"out = \"runs/x\"\nlr = nan\n".to_vec(),
        b"lr = inf\ntasks = 18446744073709551615\n".to_vec(),
        b"tasks = -1\n".to_vec(),
        b"[section]\ntasks = 3\n".to_vec(),
        b"tasks = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n".to_vec(),
        "mapping = \"é\"\norder = '''\nmulti\n'''\n".as_bytes().to_vec(),
    ]
}

fn fuzz_toml_into<C: serde::de::DeserializeOwned>(name: &str, valid: Vec<Vec<u8>>) {
    let path = Path::new("fuzz.toml");
    let mut r = runner(512);
    let n = std::cell::Cell::new(0usize);
    r.run(&fuzz_input(valid), |bytes| {
        n.set(n.get() + 1);
        if let Ok(text) = std::str::from_utf8(&bytes) {
            if let Err(e) = parse_toml::<C>(text, path) {
                let msg = e.to_string();
                prop_assert!(msg.contains("fuzz.toml"), "{}", msg);
            }
        }
        Ok(())
    })
    .unwrap();
    report(name, n.get());
}

#[test]
fn fuzz_toy_config_toml() {
    fuzz_toml_into::<SimulateConfig>("toy_config_toml", valid_toy_toml());
}

/// Multi-byte characters right where the parser reports an error: the line/key lookup
/// must not slice inside a character.
#[test]
fn toml_errors_next_to_multibyte_text() {
    for text in [
        "tasks = \"é\"\n",
        "é = 1\n",
        "tasks = 1é\n",
        "tasks = é\n",
        "€€€ = [1,\n",
        "tasks = 5\n😀\n",
        "lr = 0.1😀\n",
        "mapping = \"😀\"\n",
    ] {
        let e = parse_toml::<SimulateConfig>(text, Path::new("m.toml")).unwrap_err();
        assert!(e.to_string().contains("m.toml"), "{e}");
    }
}

#[test]
fn fuzz_llm_config_toml() {
    let valid = vec![
        b"seed = 1\npreset = \"pythia-14m\"\nwidth = 32\ndepth = 1\nheads = 2\ntasks = 2\ncontext = 8\nsteps = 1\nepochs = 1\nlr = 0.01\noptimizer = \"sgd\"\norder = \"cyclic\"\nrecord = \"all\"\n".to_vec(),
        b"docs = \"x.jsonl\"\ntext-field = \"article\"\nmask-prob = 1.5\nwidth = -3\n".to_vec(),
        b"lr = nan\nsketch-dim = 18446744073709551615\n".to_vec(),
        b"model = \"/nonexistent\"\ntokenizer = \"bytes\"\n".to_vec(),
    ];
    fuzz_toml_into::<reawaken_llm::probe::ProbeConfig>("llm_config_toml", valid);
}
