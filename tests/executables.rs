//! The two executables: `reawaken` (no libtorch) runs the commands without tensors by
//! itself and `reawaken llm …` through `reawaken-llm`, which loads libtorch but not its
//! CUDA libraries for a CPU run (docs/architecture.md, "Two executables").

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_reawaken");

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args)
        .env_remove("RUST_LOG")
        .env_remove("REAWAKEN_LLM");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("reawaken runs")
}

/// The shared libraries the dynamic loader opened for a command (`LD_DEBUG=files`).
fn loaded_libraries(args: &[&str]) -> Vec<String> {
    let out = run(args, &[("LD_DEBUG", "files")]);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut libs: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| l.split("file=").nth(1))
        .filter_map(|rest| rest.split([' ', ';']).next())
        .map(|name| {
            Path::new(name)
                .file_name()
                .map_or(name.to_string(), |n| n.to_string_lossy().into_owned())
        })
        .collect();
    libs.sort();
    libs.dedup();
    libs
}

#[test]
fn commands_without_tensors_load_no_libtorch_and_a_cpu_probe_no_cuda() {
    let tmp = tempfile::tempdir().unwrap();
    let rec = tmp.path().join("toy");
    let figs = tmp.path().join("figs");
    let (rec_s, figs_s) = (rec.to_str().unwrap(), figs.to_str().unwrap());
    let thin: [&[&str]; 3] = [
        &["--help"],
        &[
            "toy", "simulate", "--tasks", "3", "--epochs", "2", "--out", rec_s,
        ],
        &["figures", "render", "--run", rec_s, "--out", figs_s],
    ];
    for args in thin {
        let libs = loaded_libraries(args);
        assert!(!libs.is_empty(), "LD_DEBUG showed nothing for {args:?}");
        let torch: Vec<_> = libs
            .iter()
            .filter(|l| l.contains("torch") || l.contains("c10") || l.contains("cuda"))
            .collect();
        assert!(torch.is_empty(), "{args:?} loaded {torch:?}");
    }
    // The probe does load libtorch — and, on the CPU, none of the CUDA backend.
    let libs = loaded_libraries(&["llm", "probe", "--dry-run", "--device", "cpu"]);
    assert!(libs.iter().any(|l| l == "libtorch_cpu.so"), "{libs:?}");
    for cuda in [
        "libtorch_cuda.so",
        "libc10_cuda.so",
        "libcublas",
        "libcudnn",
        "libnccl",
    ] {
        assert!(
            !libs.iter().any(|l| l.starts_with(cuda)),
            "a CPU probe loaded {cuda}: {libs:?}"
        );
    }
}

#[test]
fn llm_commands_reach_the_llm_executable_with_their_arguments() {
    let out = run(&["llm", "probe", "--help"], &[]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("Usage: reawaken llm probe"), "{help}");
    assert!(help.contains("--tasks"), "{help}");
    // A global flag before `llm` is passed on; a bad flag is reawaken-llm's usage error.
    let out = run(&["--log", "info", "llm", "probe", "--no-such-flag"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--no-such-flag"), "{err}");
}

#[test]
fn a_missing_llm_executable_is_one_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let alone = tmp.path().join("reawaken");
    std::fs::copy(BIN, &alone).unwrap();
    let out = Command::new(&alone)
        .args(["llm", "probe"])
        .env_remove("REAWAKEN_LLM")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    for part in [
        "error:",
        "reawaken-llm",
        "REAWAKEN_LLM",
        "cargo build --release",
    ] {
        assert!(lines[0].contains(part), "{part:?} missing: {err}");
    }
    // The copy still does everything else.
    assert!(Command::new(&alone)
        .arg("--help")
        .output()
        .unwrap()
        .status
        .success());
    // REAWAKEN_LLM names the LLM executable; a wrong one is named in the error.
    let real = Path::new(BIN).with_file_name("reawaken-llm");
    let out = Command::new(&alone)
        .args(["llm", "probe", "--help"])
        .env("REAWAKEN_LLM", &real)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(&alone)
        .args(["llm", "probe"])
        .env("REAWAKEN_LLM", tmp.path().join("nope"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
}

/// libgomp reads how its threads wait when it is loaded: a probe runs with the short spin
/// of `reawaken_analysis::cpus::OPENMP_SPIN` unless the user chose a setting, whether it
/// was started as `reawaken llm` or as `reawaken-llm`, and run.json says which it had.
#[test]
fn probes_wait_briefly_in_openmp_unless_the_user_chose() {
    let llm = Path::new(BIN).with_file_name("reawaken-llm");
    let tmp = tempfile::tempdir().unwrap();
    let (var, value) = reawaken_analysis::cpus::OPENMP_SPIN;
    // (executable, command, variable the user set, what run.json must show)
    type Case<'a> = (
        &'a Path,
        &'a [&'a str],
        Option<(&'a str, &'a str)>,
        (&'a str, &'a str),
    );
    let cases: [Case; 4] = [
        (Path::new(BIN), &["llm", "probe"], None, (var, value)),
        (&llm, &["probe"], None, (var, value)),
        (
            Path::new(BIN),
            &["llm", "probe"],
            Some(("OMP_WAIT_POLICY", "passive")),
            ("OMP_WAIT_POLICY", "passive"),
        ),
        (
            &llm,
            &["probe"],
            Some(("GOMP_SPINCOUNT", "500")),
            ("GOMP_SPINCOUNT", "500"),
        ),
    ];
    for (k, (exe, cmd, given, expected)) in cases.into_iter().enumerate() {
        let out = tmp.path().join(format!("run{k}"));
        let mut c = Command::new(exe);
        let flags = "--device cpu --width 16 --depth 1 --heads 2 --tasks 2 --context 8 \
                     --steps 1 --epochs 1 --record none --out";
        c.args(cmd)
            .args(flags.split_whitespace())
            .arg(&out)
            .env_remove("RUST_LOG")
            .env_remove("OMP_WAIT_POLICY")
            .env_remove("GOMP_SPINCOUNT")
            .env("OMP_NUM_THREADS", "1");
        if let Some((k, v)) = given {
            c.env(k, v);
        }
        let o = c.output().expect("the probe runs");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let info: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
        let want = serde_json::json!({ expected.0: expected.1 });
        assert_eq!(info["openmp_wait"], want, "{exe:?} {cmd:?} with {given:?}");
    }
}
