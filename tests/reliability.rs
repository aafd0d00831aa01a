//! Reliability through the real binary (docs/errors.md, "Reliability"): inputs that used to
//! panic, runs too big for the machine, inputs that used to hang, start-up failures,
//! every way a run ends, `--force` and the user's files, two writers, resume from a
//! changed checkpoint, and inputs that look fine but are not. Every run is bounded in
//! time ([`run_bounded`]).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reawaken_testkit::cli::{assert_refused, copy_record, run_bounded};
use reawaken_testkit::fixture;
use reawaken_testkit::sweep::episodes_done;

const BIN: &str = env!("CARGO_BIN_EXE_reawaken");
/// A probe that takes well under a second.
const SMALL: &str = "--width 32 --depth 1 --heads 4 --intermediate-size 64 --tasks 3 --context 16 --steps 1 --epochs 2 --record none --device cpu";

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn probe(out: &Path, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ["llm", "probe"].map(String::from).to_vec();
    v.extend(SMALL.split_whitespace().map(String::from));
    v.extend(extra.iter().map(|x| x.to_string()));
    v.extend(["--out".to_string(), s(out)]);
    v
}

fn run(args: &[String], secs: u64) -> std::process::Output {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    run_bounded(BIN, &a, secs)
}

fn run_json(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("run.json")).expect("run.json"))
        .expect("run.json is JSON")
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Spawns a run, waits until `ready(out)` holds, sends `signal`, returns the exit status
/// and stderr.
fn run_then_signal(
    args: &[String],
    out: &Path,
    ready: impl Fn(&Path) -> bool,
    signal: &str,
) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .env("OMP_NUM_THREADS", reawaken_testkit::cli::TEST_THREADS)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !ready(out) && start.elapsed() < Duration::from_secs(60) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no exit after {signal}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let o = child.wait_with_output().unwrap();
    (o.status, String::from_utf8_lossy(&o.stderr).into_owned())
}

/// A copy of the fixture model directory with `config.json` edited.
fn model_with_config(tmp: &Path, edit: impl Fn(&mut serde_json::Value)) -> PathBuf {
    let src = fixture("neox-parallel");
    let dst = tmp.join("model");
    std::fs::create_dir_all(&dst).unwrap();
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
    let mut c: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dst.join("config.json")).unwrap()).unwrap();
    edit(&mut c);
    std::fs::write(dst.join("config.json"), c.to_string()).unwrap();
    dst
}

const MAX: &str = "18446744073709551615";

/// `llm probe --model DIR --device cpu --out OUT EXTRA…`, bounded.
fn probe_model(model: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let (m, o) = (s(model), s(out));
    let mut args = vec![
        "llm", "probe", "--model", &m, "--device", "cpu", "--out", &o,
    ];
    args.extend(extra);
    run_bounded(BIN, &args, 120)
}

#[test]
fn inputs_that_used_to_panic_are_plain_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    let cases: &[(&[&str], &str)] = &[
        (&["--epochs", MAX], "memory"),
        (&["--width", "100000", "--heads", "1"], "memory"),
        (
            &[
                "--record",
                "weights",
                "--sketch-budget",
                "0",
                "--sketch-dim",
                MAX,
            ],
            "--sketch-dim",
        ),
        (&["--sketch-dim", "2147483648"], "--sketch-dim"),
        (&["--sketch-dim", "4294967296"], "--sketch-dim"),
        // Invented: more extreme values of the same kind.
        (&["--tasks", MAX], "--tasks"),
        (&["--steps", MAX], "--steps"),
        (&["--context", MAX], "memory"),
        (&["--insert-random", MAX], "memory"),
        (&["--depth", "9223372036854775807"], "memory"),
        (&["--intermediate-size", "9223372036854775807"], "memory"),
        (&["--pairwise-epoch", MAX, "--record", "pairwise"], ""),
    ];
    for (extra, needle) in cases {
        let mut args = probe(&out, extra);
        args.push("--force".into());
        let o = run(&args, 60);
        if needle.is_empty() {
            // A value that is capped (P > E means the last epoch): the run completes.
            assert!(o.status.success(), "{extra:?}: {}", stderr(&o));
            continue;
        }
        assert_refused(&o, &[needle], Some(&out));
        assert!(!out.join("run.json").exists(), "{extra:?} wrote a record");
    }
    // A model config.json whose shapes the weights cannot hold: refused before allocating.
    for (key, value) in [
        ("vocab_size", serde_json::json!(1u64 << 40)),
        ("num_hidden_layers", serde_json::json!(1_000_000)),
        ("hidden_size", serde_json::json!(1u64 << 31)),
        ("intermediate_size", serde_json::json!(1u64 << 40)),
    ] {
        let t = tempfile::tempdir().unwrap();
        let m = model_with_config(t.path(), |c| c[key] = value.clone());
        let o = probe_model(&m, &t.path().join("r"), &[]);
        assert_refused(&o, &["config.json"], None);
    }
    // The toy's numeric extremes.
    let out = tmp.path().join("toy");
    for extra in [
        ["--epochs", MAX],
        ["--input-dim", MAX],
        ["--tasks", MAX],
        ["--embed-dim", MAX],
    ] {
        let mut args = vec!["toy", "simulate", "--out"];
        let o_s = s(&out);
        args.push(&o_s);
        args.extend(extra);
        let o = run_bounded(BIN, &args, 60);
        assert_refused(&o, &[extra[0]], Some(&out));
    }
}

#[test]
fn runs_too_big_for_the_machine_are_refused_with_the_estimate() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    let base = |extra: &[&str]| {
        let mut v: Vec<String> = ["llm", "probe", "--device", "cpu", "--out", &s(&out)]
            .map(String::from)
            .to_vec();
        v.extend(extra.iter().map(|x| x.to_string()));
        v
    };
    for extra in [
        &["--insert-random", "4294967296"][..],
        &["--context", "10000000"],
        &["--width", "4096", "--depth", "1000"],
        &["--epochs", "1000000000"],
        &["--preset", "12b"],
        // Invented.
        &["--preset", "6.9b"],
        &["--tasks", "30", "--epochs", "100000000"],
        &["--record", "acts", "--context", "2000000"],
    ] {
        let t0 = Instant::now();
        let o = run(&base(extra), 60);
        assert_refused(&o, &["the run needs", "available", "--dry-run"], None);
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{extra:?} took long"
        );
        assert!(!out.exists(), "{extra:?} created the record directory");
    }
    // --dry-run reports the estimate and writes nothing, fitting or not.
    let o = run(&base(&["--dry-run", "--preset", "12b"]), 60);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("does NOT fit") && text.contains("parameters"),
        "{text}"
    );
    let o = run(&base(&["--dry-run"]), 60);
    assert!(String::from_utf8_lossy(&o.stdout).contains("fits"));
    assert!(!out.exists());
}

#[test]
fn unbounded_inputs_are_refused_without_hanging() {
    let tmp = tempfile::tempdir().unwrap();
    let out = s(&tmp.path().join("r"));
    let fifo = tmp.path().join("fifo.txt");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let docs = tmp.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    let c = std::ffi::CString::new(docs.join("a.txt").to_str().unwrap()).unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let model = model_with_config(tmp.path(), |_| {});
    std::fs::remove_file(model.join("config.json")).unwrap();
    let c = std::ffi::CString::new(model.join("config.json").to_str().unwrap()).unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let f = s(&fifo);
    let d = s(&docs);
    let m = s(&model);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["llm", "probe", "--config", "/dev/zero"], "/dev/zero"),
        (
            vec!["llm", "probe", "--config", "/dev/urandom"],
            "/dev/urandom",
        ),
        (vec!["llm", "probe", "--docs", "/dev/zero"], "/dev/zero"),
        (vec!["llm", "probe", "--docs", &d], "no .txt documents"),
        // Invented.
        (vec!["llm", "probe", "--docs", &f], "fifo.txt"),
        (vec!["llm", "probe", "--config", &f], "fifo.txt"),
        (
            vec!["llm", "probe", "--tokenizer", "/dev/zero"],
            "/dev/zero",
        ),
        (vec!["llm", "probe", "--model", &m], "config.json"),
        (
            vec!["toy", "simulate", "--config", "/dev/zero"],
            "/dev/zero",
        ),
        (vec!["toy", "simulate", "--config", &f], "fifo.txt"),
    ];
    for (mut args, needle) in cases {
        args.extend(["--out", &out]);
        let o = run_bounded(BIN, &args, 30);
        assert_refused(&o, &[needle], None);
    }
}

#[test]
fn start_up_leaves_nothing_or_a_record_the_tool_can_replace_or_resume() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, (resume, signal)) in [
        (false, "-KILL"),
        (true, "-KILL"),
        (false, "-KILL"),
        (true, "-TERM"),
        (false, "-INT"),
    ]
    .into_iter()
    .enumerate()
    {
        let out = tmp.path().join(format!("r{i}"));
        if i == 2 {
            // --force over a complete record, killed at once: still replaceable.
            let o = run(&probe(&out, &[]), 120);
            assert!(o.status.success(), "{}", stderr(&o));
        }
        let mut args = probe(&out, &["--epochs", "40"]);
        args.push("--force".into());
        let (_, _) = run_then_signal(&args, &out, |o| o.join("run.json").exists(), signal);
        let mut again = probe(&out, &["--epochs", "40"]);
        again.push(if resume { "--resume" } else { "--force" }.into());
        let o = run(&again, 120);
        assert!(o.status.success(), "case {i}: {}", stderr(&o));
        assert_eq!(run_json(&out)["status"], "complete");
    }
}

#[test]
fn every_ending_is_written_with_its_reason() {
    let tmp = tempfile::tempdir().unwrap();
    for (signal, code, name) in [
        ("-TERM", 143, "SIGTERM"),
        ("-HUP", 129, "SIGHUP"),
        ("-INT", 130, "SIGINT"),
    ] {
        let out = tmp.path().join(name);
        let args = probe(&out, &["--epochs", "200", "--checkpoint-every", "1"]);
        let (status, err) = run_then_signal(&args, &out, |o| episodes_done(o) >= 2, signal);
        assert_eq!(status.code(), Some(code), "{name}: {err}");
        assert!(
            err.contains("interrupted") && err.contains(name),
            "{name}: {err}"
        );
        let info = run_json(&out);
        assert_eq!(info["status"], "interrupted", "{name}");
        let msg = info["message"].as_str().unwrap();
        assert!(msg.contains(name) && msg.contains("--resume"), "{msg}");
    }
    // The toy: stopped at an episode, the record says so.
    for (signal, code, name) in [("-INT", 130, "SIGINT"), ("-TERM", 143, "SIGTERM")] {
        let out = tmp.path().join(format!("toy-{name}"));
        let args: Vec<String> = [
            "toy",
            "simulate",
            "--input-dim",
            "2000",
            "--embed-dim",
            "2000",
            "--lr",
            "0.0001",
            "--epochs",
            "400",
            "--out",
        ]
        .iter()
        .map(|x| x.to_string())
        .chain([s(&out)])
        .collect();
        let (status, err) = run_then_signal(&args, &out, |o| o.join("run.json").exists(), signal);
        assert_eq!(status.code(), Some(code), "toy {name}: {err}");
        assert!(err.contains(name), "{err}");
        let info = run_json(&out);
        assert_eq!(info["status"], "interrupted");
        assert!(info["message"].as_str().unwrap().contains("--force"));
    }
}

#[test]
fn force_deletes_only_the_tools_files() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    let o = run(
        &probe(&out, &["--record", "all", "--checkpoint-every", "1"]),
        120,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let mine = [
        "my_analysis.json",
        "notes.npy",
        "extra.safetensors",
        "plots/fig.svg",
    ];
    std::fs::create_dir(out.join("plots")).unwrap();
    for f in mine {
        std::fs::write(out.join(f), "the user's").unwrap();
    }
    let mut args = probe(&out, &[]);
    args.push("--force".into());
    let o = run(&args, 120);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in mine {
        assert_eq!(
            std::fs::read_to_string(out.join(f)).unwrap(),
            "the user's",
            "{f}"
        );
    }
    // The previous run's recorder arrays are gone (this run records none).
    assert!(!out.join("weights.npy").exists());
    // The toy too.
    let toy_out = tmp.path().join("toy");
    let toy = |force: bool| {
        let mut a = vec!["toy", "simulate", "--tasks", "4", "--epochs", "2", "--out"];
        let o = s(&toy_out);
        a.push(&o);
        if force {
            a.push("--force");
        }
        run_bounded(BIN, &a, 60)
    };
    assert!(toy(false).status.success());
    std::fs::write(toy_out.join("my_analysis.json"), "{}").unwrap();
    assert!(toy(true).status.success());
    assert!(toy_out.join("my_analysis.json").exists());
    // Not records: refused, nothing deleted.
    for body in [r#"{"tool":"reawaken"}"#, "{}", "not json"] {
        let d = tmp.path().join("fake");
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("run.json"), body).unwrap();
        std::fs::write(d.join("losses.npy"), "mine").unwrap();
        let mut args = probe(&d, &[]);
        args.push("--force".into());
        let o = run(&args, 60);
        assert_refused(&o, &["no reawaken run.json"], None);
        assert_eq!(std::fs::read_to_string(d.join("run.json")).unwrap(), body);
        assert!(d.join("losses.npy").exists());
    }
}

#[test]
fn one_writer_per_record() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    let long = probe(&out, &["--epochs", "100000", "--checkpoint-every", "1"]);
    let mut child = Command::new(BIN)
        .args(&long)
        .env("OMP_NUM_THREADS", reawaken_testkit::cli::TEST_THREADS)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while episodes_done(&out) < 1 {
        assert!(start.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(5));
    }
    let pid = child.id().to_string();
    let mut force = probe(&out, &[]);
    force.push("--force".into());
    let mut resume = long.clone();
    resume.push("--resume".into());
    let toy = ["toy", "simulate", "--force", "--out"]
        .map(String::from)
        .to_vec();
    let mut toy = toy;
    toy.push(s(&out));
    for args in [&force, &resume, &toy] {
        let o = run(args, 60);
        assert_refused(&o, &["another reawaken process", &pid], None);
    }
    // The first writer dies without cleaning up: its stale lock is taken over.
    child.kill().unwrap();
    child.wait().unwrap();
    let o = run(&force, 120);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("taking over the lock"),
        "{}",
        stderr(&o)
    );
    assert_eq!(run_json(&out)["status"], "complete");
}

/// Every file name under `dir`, recursively.
fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    out
}

#[test]
fn resume_refuses_a_checkpoint_that_does_not_fit() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    let flags = [
        "--epochs",
        "30",
        "--checkpoint-every",
        "1",
        "--record",
        "weights",
    ];
    let (_, _) = run_then_signal(
        &probe(&base, &flags),
        &base,
        |o| episodes_done(o) >= 3,
        "-KILL",
    );
    let state_path = |d: &Path| d.join("checkpoint/state.json");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state_path(&base)).unwrap()).unwrap();
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("keep.txt"), "x").unwrap();
    type Edit = Box<dyn Fn(&Path)>;
    let edit_state = |f: fn(&mut serde_json::Value)| -> Edit {
        Box::new(move |d: &Path| {
            let p = d.join("checkpoint/state.json");
            let mut v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            f(&mut v);
            std::fs::write(&p, v.to_string()).unwrap();
        })
    };
    let outside2 = outside.clone();
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "params outside",
            edit_state(|v| v["params_file"] = "../outside.safetensors".into()),
            "parameter file",
        ),
        (
            "absolute params",
            edit_state(|v| v["params_file"] = "/etc/passwd".into()),
            "parameter file",
        ),
        (
            "/dev/zero params",
            edit_state(|v| v["params_file"] = "/dev/zero".into()),
            "parameter file",
        ),
        (
            "episodes_done",
            edit_state(|v| {
                let n = v["episodes_done"].as_u64().unwrap();
                v["episodes_done"] = (n - 1).into();
            }),
            "parameter file",
        ),
        (
            "NaN loss",
            Box::new(|d: &Path| {
                let p = d.join("losses.npy");
                let mut b = std::fs::read(&p).unwrap();
                let at = b.len() - 4;
                b[at..].copy_from_slice(&f32::NAN.to_le_bytes());
                // Put the NaN in row 1 instead (rows after the safe point are cut anyway).
                let header = u16::from_le_bytes([b[8], b[9]]) as usize + 10;
                b[header + 3 * 4..header + 4 * 4].copy_from_slice(&f32::NAN.to_le_bytes());
                std::fs::write(&p, b).unwrap();
            }),
            "non-finite",
        ),
        (
            "changed loss",
            Box::new(|d: &Path| {
                let p = d.join("losses.npy");
                let mut b = std::fs::read(&p).unwrap();
                let header = u16::from_le_bytes([b[8], b[9]]) as usize + 10;
                b[header..header + 4].copy_from_slice(&1.5f32.to_le_bytes());
                std::fs::write(&p, b).unwrap();
            }),
            "differ",
        ),
        (
            "truncated weights log",
            Box::new(|d: &Path| {
                let p = d.join("checkpoint/weights.rows");
                let b = std::fs::read(&p).unwrap();
                std::fs::write(&p, &b[..b.len() / 2]).unwrap();
            }),
            "weights.rows",
        ),
        (
            "changed params",
            Box::new(|d: &Path| {
                // The file state.json names: a kill between a safe point's new parameter
                // file and its state.json leaves the next one beside it, unused.
                let ck = d.join("checkpoint");
                let state: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(ck.join("state.json")).unwrap()).unwrap();
                let f = ck.join(state["params_file"].as_str().unwrap());
                let mut b = std::fs::read(&f).unwrap();
                let n = b.len();
                b[n - 1] ^= 0x55;
                std::fs::write(&f, b).unwrap();
            }),
            "content changed",
        ),
        (
            "checkpoint symlink",
            Box::new(move |d: &Path| {
                let ck = d.join("checkpoint");
                copy_record(&ck, &outside2);
                std::fs::remove_dir_all(&ck).unwrap();
                std::os::unix::fs::symlink(&outside2, &ck).unwrap();
            }),
            "symbolic link",
        ),
    ];
    let _ = state;
    for (what, edit, needle) in cases {
        let d = tmp.path().join(what.replace(' ', "-").replace('/', ""));
        copy_record(&base, &d);
        edit(&d);
        let mut args = probe(&d, &flags);
        args.push("--resume".into());
        let o = run(&args, 60);
        println!("case {what:?}: {}", o.status);
        assert_refused(&o, &[needle], Some(&d));
    }
    assert!(
        outside.join("keep.txt").exists(),
        "files outside the record survive"
    );
}

#[test]
fn inputs_that_look_fine_but_are_not() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    // A tokenizer.json with padding and truncation: both are switched off, with a warning.
    let m = model_with_config(tmp.path(), |_| {});
    let tp = m.join("tokenizer.json");
    let mut tok: serde_json::Value = serde_json::from_slice(&std::fs::read(&tp).unwrap()).unwrap();
    tok["truncation"] = serde_json::json!({"direction": "Right", "max_length": 4, "strategy": "LongestFirst", "stride": 0});
    tok["padding"] = serde_json::json!({"strategy": {"Fixed": 64}, "direction": "Right", "pad_to_multiple_of": null, "pad_id": 1, "pad_type_id": 0, "pad_token": "<|padding|>"});
    std::fs::write(&tp, tok.to_string()).unwrap();
    let o = probe_model(
        &m,
        &out,
        &[
            "--tasks",
            "2",
            "--context",
            "32",
            "--steps",
            "1",
            "--epochs",
            "2",
            "--record",
            "none",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("padding/truncation settings are switched off"));
    let tasks: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("tasks.json")).unwrap()).unwrap();
    for t in tasks["tasks"].as_array().unwrap() {
        assert!(t["tokens"].as_u64().unwrap() > 4, "truncated: {t}");
    }
    // Whitespace-only documents are skipped; a BOM is not text; extensions in any case.
    let docs = tmp.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    std::fs::write(
        docs.join("a.txt"),
        "\u{feff}Alpha beta gamma delta epsilon zeta eta theta.",
    )
    .unwrap();
    std::fs::write(
        docs.join("b.TXT"),
        "Iota kappa lambda mu nu xi omicron pi rho sigma.",
    )
    .unwrap();
    std::fs::write(docs.join("c.txt"), "  \n\t \n").unwrap();
    std::fs::write(
        docs.join("d.txt"),
        "Tau upsilon phi chi psi omega, and again alpha.",
    )
    .unwrap();
    let o = run(
        &{
            let mut a = probe(&out, &["--docs", &s(&docs), "--sample", "first"]);
            a.push("--force".into());
            a
        },
        60,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("skipped 1 empty"), "{}", stderr(&o));
    let tasks: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("tasks.json")).unwrap()).unwrap();
    let t = tasks["tasks"].as_array().unwrap();
    assert!(
        t[0]["excerpt"].as_str().unwrap().starts_with("Alpha"),
        "{t:?}"
    );
    assert!(t[1]["source"].as_str().unwrap().ends_with("b.TXT"), "{t:?}");
    assert!(t[2]["source"].as_str().unwrap().ends_with("d.txt"), "{t:?}");
    // JSON Lines under other extensions; a JSON array is refused.
    let upper = tmp.path().join("docs.JSONL");
    let lines: String = (0..3)
        .map(|i| format!("{{\"text\": \"document number {i} with some words\"}}\n"))
        .collect();
    std::fs::write(&upper, &lines).unwrap();
    let o = run(
        &{
            let mut a = probe(&out, &["--docs", &s(&upper)]);
            a.push("--force".into());
            a
        },
        60,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let arr = tmp.path().join("docs.json");
    std::fs::write(&arr, r#"[{"text": "a"}, {"text": "b"}]"#).unwrap();
    let o = run(&probe(&tmp.path().join("r2"), &["--docs", &s(&arr)]), 60);
    assert_refused(&o, &["JSON array", "docs.json"], None);
    // Fresh-model settings from a config file are refused with --model.
    for line in ["preset = \"1b\"", "init = \"isotropic\"", "width = 64"] {
        let cfg = tmp.path().join("c.toml");
        std::fs::write(&cfg, line).unwrap();
        let key = line.split(' ').next().unwrap();
        let c = s(&cfg);
        let o = probe_model(&m, &tmp.path().join("r3"), &["--config", &c]);
        assert_refused(&o, &[&format!("--{key}"), "--model"], None);
    }
}

#[test]
fn messages_name_the_input_once() {
    let tmp = tempfile::tempdir().unwrap();
    let out = s(&tmp.path().join("r"));
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let broken = model_with_config(tmp.path(), |_| {});
    std::fs::write(broken.join("config.json"), "{ not json").unwrap();
    let cases: Vec<(Vec<String>, &str, &str)> = vec![
        (
            vec![
                "llm".into(),
                "probe".into(),
                "--model".into(),
                "/nonexistent".into(),
            ],
            "no such model directory",
            "no such model directory",
        ),
        (
            vec!["llm".into(), "probe".into(), "--model".into(), s(&file)],
            "not a directory",
            "not a directory",
        ),
        (
            vec!["llm".into(), "probe".into(), "--model".into(), s(&broken)],
            "cannot parse config",
            "cannot parse config",
        ),
        (
            vec![
                "llm".into(),
                "probe".into(),
                "--init".into(),
                "isotropic:0".into(),
            ],
            "positive finite",
            "unknown init",
        ),
        (
            vec!["llm".into(), "probe".into(), "--record".into(), "".into()],
            "empty list",
            "unknown recorder",
        ),
        (
            vec![
                "--log".into(),
                "garbage[[".into(),
                "toy".into(),
                "simulate".into(),
            ],
            "--log",
            "xx-no-such-text",
        ),
        (
            vec!["toy".into(), "simulate".into(), "--out".into(), s(&file)],
            "not a directory",
            "File exists",
        ),
    ];
    for (mut args, needle, absent) in cases {
        if !args.iter().any(|a| a == "--out") {
            args.extend(["--out".to_string(), out.clone()]);
        }
        let o = run(&args, 60);
        let err = assert_refused(&o, &[needle], None);
        assert_eq!(err.matches(needle).count(), 1, "said twice: {err}");
        assert!(!err.contains(absent) || absent == needle, "{err}");
    }
}

/// A full disk during a run: the record is marked `failed` with the error and what to do
/// next, the error line says the same, and no temporary file is left behind. Needs a
/// small tmpfs (root); where mounting is not allowed the test says so and checks nothing.
#[test]
fn a_full_disk_marks_the_record_failed() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=160k", "tmpfs", &s(&mnt)])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|st| st.success());
    if !mounted {
        eprintln!(
            "a_full_disk_marks_the_record_failed: cannot mount a tmpfs here (not root?); not run"
        );
        return;
    }
    let out = mnt.join("r");
    // 25 056 parameters: each safe point writes a 100 KB parameter file, and the second
    // one does not fit next to the first. Everything is read before unmounting.
    let o = run(
        &probe(&out, &["--epochs", "3", "--checkpoint-every", "1"]),
        120,
    );
    let info = std::fs::read(out.join("run.json"));
    let leftovers: Vec<String> = walk(&out)
        .into_iter()
        .filter(|n| n.contains(".tmp-"))
        .collect();
    // The toy: its points (11 × 25 × 400 values) do not fit; the record says failed.
    let _ = std::fs::remove_dir_all(&out);
    let toy_out = mnt.join("toy");
    let toy = run_bounded(
        BIN,
        &[
            "toy",
            "simulate",
            "--embed-dim",
            "400",
            "--out",
            &s(&toy_out),
        ],
        120,
    );
    let toy_info = std::fs::read(toy_out.join("run.json"));
    let toy_left: Vec<String> = walk(&toy_out)
        .into_iter()
        .filter(|n| n.contains(".tmp-"))
        .collect();
    let _ = Command::new("umount").arg(&mnt).status();
    assert_refused(&toy, &["no space left"], None);
    let toy_info: serde_json::Value =
        serde_json::from_slice(&toy_info.expect("toy run.json")).unwrap();
    assert_eq!(toy_info["status"], "failed");
    assert!(toy_left.is_empty(), "temporary files left: {toy_left:?}");
    let err = assert_refused(&o, &["no space left", "marked failed"], None);
    let info: serde_json::Value = serde_json::from_slice(&info.expect("run.json")).unwrap();
    assert_eq!(info["status"], "failed", "{err}");
    assert!(
        info["message"].as_str().unwrap().contains("--resume"),
        "{info}"
    );
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}
