//! Fuzzing the numeric flags of `toy simulate` and `llm probe` through the real binary:
//! random combinations of extreme, zero, negative and non-finite values on top of a small
//! run. Every case must end in time (no hang), never panic, and either complete with a
//! `complete` record or be refused with one `error:` line (a run that diverges says so and
//! its record says `diverged`). Counts: docs/fuzzing.md; `PROPTEST_CASES=N` runs longer.

use proptest::prelude::*;
use reawaken_testkit::cli::run_bounded;
use reawaken_testkit::fuzz::{report, runner};

const BIN: &str = env!("CARGO_BIN_EXE_reawaken");
const MAX: &str = "18446744073709551615";

/// Extreme values for integer flags.
const INTS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "-1",
    MAX,
    "4294967296",
    "9223372036854775807",
    "1e3",
    "",
];
/// Extreme values for float flags.
const FLOATS: &[&str] = &[
    "0",
    "-1",
    "NaN",
    "inf",
    "-inf",
    "1e-300",
    "1e300",
    "1.7976931348623157e308",
    "5e-324",
    "0.5",
    "0.01",
    "",
];

fn pick(values: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
    prop::sample::select(values)
}

/// 1 to 3 (flag, value) pairs from `flags` (each flag with its value pool).
fn combos(
    flags: &'static [(&'static str, &'static [&'static str])],
) -> impl Strategy<Value = Vec<(&'static str, &'static str)>> {
    prop::collection::vec(
        prop::sample::select(flags).prop_flat_map(|(f, pool)| pick(pool).prop_map(move |v| (f, v))),
        1..=3,
    )
}

/// Checks one finished case: no panic, and a refusal is one plain `error:` line.
fn check(args: &[String], o: &std::process::Output) -> Result<(), TestCaseError> {
    let err = String::from_utf8_lossy(&o.stderr);
    prop_assert_ne!(o.status.code(), Some(101), "{:?}: panic: {}", args, err);
    for bad in ["panicked", "stack backtrace", "frame #"] {
        prop_assert!(!err.contains(bad), "{:?}: {}", args, err);
    }
    if !o.status.success() {
        let lines = err.lines().filter(|l| l.starts_with("error:")).count();
        prop_assert_eq!(lines, 1, "{:?}: {}", args, err);
    }
    Ok(())
}

fn run_case(
    base: &[&str],
    extra: &[(&str, &str)],
    out: &std::path::Path,
) -> Result<(), TestCaseError> {
    let mut args: Vec<String> = base.iter().map(|s| s.to_string()).collect();
    for (f, v) in extra {
        args.push(format!("--{f}={v}"));
    }
    args.extend([
        "--force".to_string(),
        "--out".to_string(),
        out.display().to_string(),
    ]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let _ = std::fs::remove_dir_all(out);
    let o = run_bounded(BIN, &a, 120);
    check(&args, &o)?;
    if let Ok(b) = std::fs::read(out.join("run.json")) {
        let v: serde_json::Value = serde_json::from_slice(&b).expect("run.json is JSON");
        let status = v["status"].as_str().unwrap_or("");
        if o.status.success() {
            prop_assert_eq!(status, "complete", "{:?}", args);
        } else {
            prop_assert_ne!(status, "complete", "{:?}", args);
        }
    }
    Ok(())
}

const TOY_FLAGS: &[(&str, &[&str])] = &[
    ("tasks", INTS),
    ("input-dim", INTS),
    ("embed-dim", INTS),
    ("epochs", INTS),
    ("steps", &["0", "1", "-1", "1000", "1000001", MAX, ""]),
    ("lr", FLOATS),
    ("seed", INTS),
];

#[test]
fn toy_numeric_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    let base = [
        "toy",
        "simulate",
        "--tasks",
        "4",
        "--input-dim",
        "8",
        "--embed-dim",
        "8",
        "--epochs",
        "2",
        "--lr",
        "0.01",
    ];
    let n = std::cell::Cell::new(0usize);
    runner(80)
        .run(&combos(TOY_FLAGS), |extra| {
            n.set(n.get() + 1);
            run_case(&base, &extra, &out)
        })
        .unwrap();
    report("toy simulate numeric flags", n.get());
}

const PROBE_FLAGS: &[(&str, &[&str])] = &[
    ("tasks", INTS),
    (
        "context",
        &["0", "1", "2", "3", "16", MAX, "10000000", "-1", ""],
    ),
    ("steps", &["0", "1", "2", "-1", MAX, "1000001", ""]),
    ("epochs", INTS),
    ("lr", FLOATS),
    (
        "mask-prob",
        &["-0.1", "0", "0.5", "0.999999", "1", "NaN", "inf", ""],
    ),
    ("window-shift", &["0", "1", "8", "9", MAX, "-1"]),
    ("sketch-dim", &["0", "1", "16777216", "16777217", MAX]),
    ("sketch-budget", &["0", "1", MAX]),
    ("insert-random", &["0", "1", "1-3", "3-1", MAX, "-1", "x"]),
    (
        "width",
        &["0", "-1", "1", "31", "32", "9223372036854775807"],
    ),
    ("depth", &["0", "-1", "1", "2", "9223372036854775807"]),
    ("heads", &["0", "-1", "1", "3", "4", "9223372036854775807"]),
    (
        "intermediate-size",
        &["0", "-1", "1", "9223372036854775807"],
    ),
    ("freeze-blocks", &["0", "1", "2", MAX]),
    ("pairwise-epoch", &["0", "1", MAX]),
    ("acts-task", &["0", "2", "3", MAX]),
    ("grads-block", &["0", "1", MAX]),
    ("checkpoint-every", &["0", "1", MAX]),
    ("partial-shuffle", &["0", "2", "3", MAX]),
    ("seed", INTS),
];

#[test]
fn probe_numeric_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    let base = [
        "llm",
        "probe",
        "--device",
        "cpu",
        "--width",
        "32",
        "--depth",
        "1",
        "--heads",
        "4",
        "--intermediate-size",
        "64",
        "--tasks",
        "3",
        "--context",
        "16",
        "--steps",
        "1",
        "--epochs",
        "2",
        "--record",
        "all",
    ];
    let n = std::cell::Cell::new(0usize);
    runner(25)
        .run(&combos(PROBE_FLAGS), |extra| {
            n.set(n.get() + 1);
            run_case(&base, &extra, &out)
        })
        .unwrap();
    report("llm probe numeric flags", n.get());
}
