//! Rows of the bad-input table (docs/errors.md) that no other test runs through the real
//! binary: each case runs `reawaken`, and checks exit status ≠ 0, one plain `error:` line
//! naming the input and the problem, no panic or backtrace, and no record left behind that
//! looks complete.

use reawaken_testkit::cli::assert_refused;
use reawaken_testkit::npy_v1;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_reawaken");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "error")
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("the binary runs")
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

// ---------------------------------------------------------------------------------
// toy simulate

fn toy(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "toy",
        "simulate",
        "--tasks",
        "4",
        "--epochs",
        "1",
        "--input-dim",
        "8",
        "--embed-dim",
        "8",
        "--out",
    ];
    let o = s(out);
    args.push(&o);
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn toy_config_not_utf8_or_not_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    let bin = tmp.path().join("latin1.toml");
    std::fs::write(&bin, b"tasks = 5 # caf\xe9\n").unwrap();
    let o = toy(&out, &["--config", &s(&bin)]);
    assert_refused(&o, &["latin1.toml", "UTF-8"], Some(&out));
    assert!(!out.exists());

    // A directory given as the config file.
    let o = toy(&out, &["--config", &s(tmp.path())]);
    assert_refused(&o, &["cannot read config file", &s(tmp.path())], Some(&out));
    assert!(!out.exists());
}

#[test]
fn toy_out_of_range_values_from_a_config_file() {
    // The same checks as for flags apply to values read from --config.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    for (text, needle) in [
        ("tasks = 0\n", "--tasks"),
        ("lr = nan\n", "--lr"),
        ("lr = -inf\n", "--lr"),
        ("epochs = 0\n", "--epochs"),
    ] {
        let cfg = tmp.path().join("c.toml");
        std::fs::write(&cfg, text).unwrap();
        let mut args = vec!["toy", "simulate", "--out"];
        let o = s(&out);
        args.push(&o);
        let c = s(&cfg);
        args.extend(["--config", &c]);
        let o = run(&args);
        assert_refused(&o, &[needle], Some(&out));
        assert!(!out.exists(), "{text}");
    }
}

#[test]
fn toy_out_is_an_existing_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("afile");
    std::fs::write(&out, "precious").unwrap();
    let o = toy(&out, &[]);
    assert_refused(&o, &["afile"], None);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "precious");
    // --force does not delete a plain file either.
    let o = toy(&out, &["--force"]);
    assert_refused(&o, &["afile"], None);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "precious");
}

// ---------------------------------------------------------------------------------
// figures render on broken records

/// A complete toy record (real binary), returned with its directory.
fn toy_record(root: &Path, name: &str) -> PathBuf {
    let out = root.join(name);
    let o = toy(&out, &["--seed", "1"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

fn render(runs: &[&Path], out: &Path) -> Output {
    let mut args: Vec<String> = vec!["figures".into(), "render".into()];
    for r in runs {
        args.push("--run".into());
        args.push(s(r));
    }
    args.push("--out".into());
    args.push(s(out));
    let refs: Vec<&str> = args.iter().map(|a| a.as_str()).collect();
    run(&refs)
}

/// Replaces `file` in a copy of `src` and renders it alone: every case must be skipped
/// with a reason naming the file, then fail with one `error:` line.
fn render_broken(src: &Path, root: &Path, name: &str, file: &str, bytes: &[u8], needles: &[&str]) {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    std::fs::write(dir.join(file), bytes).unwrap();
    let figs = root.join(format!("{name}-figs"));
    let o = render(&[&dir], &figs);
    let err = assert_refused(&o, &["no figure written"], None);
    assert!(err.contains(&format!("skipped run {}", s(&dir))), "{err}");
    for n in needles {
        assert!(err.contains(n), "stderr should mention {n:?}: {err}");
    }
}

#[test]
fn figures_render_names_broken_records() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let good = toy_record(root, "good");
    let losses = std::fs::read(good.join("losses.npy")).unwrap();

    // Truncated losses.npy.
    render_broken(
        &good,
        root,
        "trunc",
        "losses.npy",
        &losses[..losses.len() - 7],
        &["losses.npy"],
    );
    // Not an .npy at all.
    render_broken(
        &good,
        root,
        "text",
        "losses.npy",
        b"0.1,0.2\n",
        &["losses.npy"],
    );
    // Wrong dtype (strings).
    render_broken(
        &good,
        root,
        "dtype",
        "losses.npy",
        &npy_v1(
            "{'descr': '<U4', 'fortran_order': False, 'shape': (2, 2), }",
            &[0; 64],
        ),
        &["losses.npy"],
    );
    // losses rows ≠ episodes + 1.
    let order = npy_v1(
        "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }",
        &0i64.to_le_bytes(),
    );
    render_broken(
        &good,
        root,
        "rows",
        "order.npy",
        &order,
        &["losses.npy", "rows"],
    );
    // order.npy names a task that does not exist.
    let mut data = Vec::new();
    for t in [0i64, 1, 2, 99] {
        data.extend_from_slice(&t.to_le_bytes());
    }
    let order = npy_v1(
        "{'descr': '<i8', 'fortran_order': False, 'shape': (4,), }",
        &data,
    );
    render_broken(
        &good,
        root,
        "task",
        "order.npy",
        &order,
        &["order.npy", "99"],
    );
    // Invalid run.json / run.json that is not an object.
    render_broken(
        &good,
        root,
        "json",
        "run.json",
        b"{\"kind\": ",
        &["run.json"],
    );
    render_broken(&good, root, "arr", "run.json", b"[1, 2, 3]", &["run.json"]);
    // run.json without a config object.
    render_broken(
        &good,
        root,
        "noconf",
        "run.json",
        br#"{"kind": "toy", "status": "complete"}"#,
        &["run.json", "config"],
    );
}

/// A losses.npy whose header claims 2^40 floats used to abort `figures render` with
/// "memory allocation of 4398046511104 bytes failed"; the reader now checks the size first.
#[test]
fn figures_render_lying_npy_header() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let good = toy_record(root, "good");
    // A header that lies about a terabyte of data: refused, no huge allocation/abort.
    render_broken(
        &good,
        root,
        "lie",
        "losses.npy",
        &npy_v1(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1048576, 1048576), }",
            &[0; 64],
        ),
        &["losses.npy"],
    );
}

// ---------------------------------------------------------------------------------
// llm probe

mod llm {
    use super::*;

    fn fixture() -> PathBuf {
        reawaken_testkit::fixture("neox-parallel")
    }

    /// A tiny fresh-model probe (about a second on CPU).
    fn probe(out: &Path, extra: &[&str]) -> Output {
        let o = s(out);
        let mut args = vec![
            "llm",
            "probe",
            "--device",
            "cpu",
            "--tasks",
            "2",
            "--context",
            "8",
            "--steps",
            "1",
            "--epochs",
            "1",
            "--record",
            "none",
            "--seed",
            "1",
            "--out",
            &o,
        ];
        args.extend_from_slice(extra);
        run(&args)
    }

    fn fresh(out: &Path, extra: &[&str]) -> Output {
        let mut args = vec!["--width", "16", "--depth", "1", "--heads", "2"];
        args.extend_from_slice(extra);
        probe(out, &args)
    }

    /// A copy of the fixture model directory (config, weights, tokenizer).
    fn model_copy(root: &Path, name: &str) -> PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["config.json", "model.safetensors", "tokenizer.json"] {
            std::fs::copy(fixture().join(f), dir.join(f)).unwrap();
        }
        dir
    }

    /// Rewrites the JSON header of `dir/model.safetensors` (the data bytes stay as they are).
    fn edit_header(dir: &Path, edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) {
        let path = dir.join("model.safetensors");
        let bytes = std::fs::read(&path).unwrap();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
        edit(header.as_object_mut().unwrap());
        let mut text = serde_json::to_vec(&header).unwrap();
        while !text.len().is_multiple_of(8) {
            text.push(b' ');
        }
        let mut out = (text.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(&text);
        out.extend_from_slice(&bytes[8 + n..]);
        std::fs::write(&path, out).unwrap();
    }

    fn with_model(root: &Path, model: &Path, needles: &[&str]) {
        let out = root.join(format!(
            "out-{}",
            model.file_name().unwrap().to_string_lossy()
        ));
        let o = probe(&out, &["--model", &s(model)]);
        assert_refused(&o, needles, Some(&out));
    }

    #[test]
    fn the_fixture_model_runs() {
        // Guard for the model cases below: the unbroken copy is accepted.
        let tmp = tempfile::tempdir().unwrap();
        let m = model_copy(tmp.path(), "ok");
        let out = tmp.path().join("out");
        let o = probe(&out, &["--model", &s(&m)]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    #[test]
    fn broken_model_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();

        // Missing directory.
        with_model(root, &root.join("no-such-model"), &["no-such-model"]);

        // Truncated weights.
        let m = model_copy(root, "truncated");
        let w = std::fs::read(m.join("model.safetensors")).unwrap();
        std::fs::write(m.join("model.safetensors"), &w[..w.len() / 2]).unwrap();
        with_model(root, &m, &["model.safetensors", "truncated"]);

        // A header length that lies (claims 1 TiB of header).
        let m = model_copy(root, "lying-header");
        let mut w = std::fs::read(m.join("model.safetensors")).unwrap();
        w[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
        std::fs::write(m.join("model.safetensors"), &w).unwrap();
        with_model(root, &m, &["model.safetensors", "corrupt"]);

        // Not safetensors at all.
        let m = model_copy(root, "garbage");
        std::fs::write(
            m.join("model.safetensors"),
            b"PK\x03\x04 a zip, not safetensors",
        )
        .unwrap();
        with_model(root, &m, &["model.safetensors", "corrupt"]);

        // A missing tensor.
        let m = model_copy(root, "missing-tensor");
        edit_header(&m, |h| {
            let v = h
                .remove("gpt_neox.layers.1.mlp.dense_h_to_4h.weight")
                .unwrap();
            h.insert("unused.extra".into(), v);
        });
        with_model(root, &m, &["model.safetensors", "unused.extra"]);
        let m = model_copy(root, "dropped-tensor");
        edit_header(&m, |h| {
            // Dropping an entry leaves its bytes unreferenced: the file is then
            // rejected as corrupt or the tensor named as missing; both name the file.
            h.remove("gpt_neox.final_layer_norm.bias");
        });
        with_model(root, &m, &["model.safetensors"]);

        // A wrong shape (same number of elements, transposed).
        let m = model_copy(root, "wrong-shape");
        edit_header(&m, |h| {
            h["gpt_neox.layers.0.mlp.dense_h_to_4h.weight"]["shape"] = serde_json::json!([32, 128]);
        });
        with_model(
            root,
            &m,
            &[
                "model.safetensors",
                "gpt_neox.layers.0.mlp.dense_h_to_4h.weight",
                "shape",
            ],
        );

        // A wrong dtype (int32 has the same width as float32).
        let m = model_copy(root, "wrong-dtype");
        edit_header(&m, |h| {
            h["gpt_neox.final_layer_norm.weight"]["dtype"] = serde_json::json!("I32");
        });
        with_model(
            root,
            &m,
            &[
                "model.safetensors",
                "gpt_neox.final_layer_norm.weight",
                "dtype",
            ],
        );

        // config.json / weights mismatch: fewer layers than the weights hold.
        let m = model_copy(root, "mismatch");
        let cfg = m.join("config.json");
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
        v["num_hidden_layers"] = 2.into();
        std::fs::write(&cfg, v.to_string()).unwrap();
        with_model(
            root,
            &m,
            &["model.safetensors", "layer 2", "num_hidden_layers"],
        );

        // config.json: malformed, and width not divisible by heads.
        let m = model_copy(root, "bad-config");
        std::fs::write(m.join("config.json"), "{\"hidden_size\": 32,").unwrap();
        with_model(root, &m, &["config.json"]);
        let m = model_copy(root, "heads-config");
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fixture().join("config.json")).unwrap())
                .unwrap();
        v["num_attention_heads"] = 5.into();
        std::fs::write(m.join("config.json"), v.to_string()).unwrap();
        with_model(root, &m, &["config.json", "5"]);

        // A tokenizer.json whose vocabulary does not fit the model (ids ≥ vocab_size).
        let m = model_copy(root, "big-tokenizer");
        let tok = m.join("tokenizer.json");
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&tok).unwrap()).unwrap();
        v["model"]["vocab"]
            .as_object_mut()
            .unwrap()
            .insert("zzzzzz".into(), 5000.into());
        std::fs::write(&tok, v.to_string()).unwrap();
        with_model(root, &m, &["tokenizer.json", "5000", "1024"]);

        // A tokenizer.json that is not a tokenizer.
        let m = model_copy(root, "bad-tokenizer");
        std::fs::write(m.join("tokenizer.json"), "{\"model\": 3}").unwrap();
        with_model(root, &m, &["tokenizer.json"]);
    }

    #[test]
    fn tokenizer_flag_problems() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("r");
        let missing = tmp.path().join("nope.json");
        let o = fresh(&out, &["--tokenizer", &s(&missing)]);
        assert_refused(&o, &["nope.json"], Some(&out));
        let broken = tmp.path().join("broken.json");
        std::fs::write(&broken, "[[[").unwrap();
        let o = fresh(&out, &["--tokenizer", &s(&broken)]);
        assert_refused(&o, &["broken.json"], Some(&out));
        // A 1024-id tokenizer for a model with a 1024-row table and ids that go further:
        // the fixture model with the tokenizer made too large, given by flag.
        let m = model_copy(tmp.path(), "m");
        std::fs::remove_file(m.join("tokenizer.json")).unwrap();
        let tok = tmp.path().join("big.json");
        let mut v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(fixture().join("tokenizer.json")).unwrap(),
        )
        .unwrap();
        v["model"]["vocab"]
            .as_object_mut()
            .unwrap()
            .insert("zzzzzz".into(), 4096.into());
        std::fs::write(&tok, v.to_string()).unwrap();
        let out2 = tmp.path().join("r2");
        let o = probe(&out2, &["--model", &s(&m), "--tokenizer", &s(&tok)]);
        assert_refused(&o, &["big.json", "4096"], Some(&out2));
    }

    #[test]
    fn config_file_problems() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("r");
        for (name, text, needles) in [
            (
                "malformed.toml",
                "tasks = [1,\n",
                vec!["malformed.toml", "line"],
            ),
            (
                "unknown.toml",
                "tasks = 2\nlearning_rate = 0.1\n",
                vec!["unknown.toml", "learning_rate", "line 2"],
            ),
            (
                "type.toml",
                "steps = \"many\"\n",
                vec!["type.toml", "steps"],
            ),
        ] {
            let p = tmp.path().join(name);
            std::fs::write(&p, text).unwrap();
            let o = fresh(&out, &["--config", &s(&p)]);
            assert_refused(&o, &needles, Some(&out));
            assert!(!out.exists(), "{name}");
        }
        let p = tmp.path().join("latin1.toml");
        std::fs::write(&p, b"docs = \"caf\xe9.txt\"\n").unwrap();
        let o = fresh(&out, &["--config", &s(&p)]);
        assert_refused(&o, &["latin1.toml", "UTF-8"], Some(&out));
    }

    #[test]
    fn out_of_range_values() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("r");
        let cases: &[(&[&str], &[&str])] = &[
            (&["--preset", "pythia-3m"], &["pythia-3m", "preset"]),
            (&["--lr", "inf"], &["--lr"]),
            (&["--lr", "0"], &["--lr"]),
            (&["--steps", "0"], &["--steps"]),
            (&["--context", "0"], &["--context"]),
            (&["--heads", "0"], &["heads"]),
            (&["--width", "0"], &["width"]),
            (&["--depth", "0"], &["depth"]),
        ];
        for (extra, needles) in cases {
            let o = fresh(&out, extra);
            assert_refused(&o, needles, Some(&out));
            assert!(!out.exists(), "{extra:?} created {}", s(&out));
        }
    }

    #[test]
    fn documents_problems() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("r");
        let empty_dir = tmp.path().join("nodocs");
        std::fs::create_dir_all(&empty_dir).unwrap();
        std::fs::write(empty_dir.join("readme.md"), "not a .txt").unwrap();
        let o = fresh(&out, &["--docs", &s(&empty_dir)]);
        assert_refused(&o, &["nodocs", ".txt"], Some(&out));

        let empty = tmp.path().join("empty.jsonl");
        std::fs::write(&empty, "\n\n").unwrap();
        let o = fresh(&out, &["--docs", &s(&empty)]);
        assert_refused(&o, &["empty.jsonl", "no documents"], Some(&out));

        // A .txt in a directory that is not UTF-8.
        let d = tmp.path().join("mixed");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("a.txt"), "a perfectly fine first document").unwrap();
        std::fs::write(d.join("b.txt"), b"caf\xe9 au lait, latin-1").unwrap();
        let o = fresh(&out, &["--docs", &s(&d)]);
        assert_refused(&o, &["b.txt", "UTF-8"], Some(&out));

        // Every document tokenises to fewer than 2 tokens.
        let tiny = tmp.path().join("tiny.txt");
        std::fs::write(&tiny, "a\n\nb\n\nc\n").unwrap();
        let o = fresh(
            &out,
            &["--docs", &s(&tiny), "--tasks", "2", "--sample", "first"],
        );
        assert_refused(&o, &["at least 2"], Some(&out));

        // A .jsonl whose text field is not a string.
        let num = tmp.path().join("num.jsonl");
        std::fs::write(&num, "{\"text\": 5}\n{\"text\": \"ok doc\"}\n").unwrap();
        let o = fresh(&out, &["--docs", &s(&num)]);
        assert_refused(&o, &["num.jsonl", "line 1", "text"], Some(&out));
    }

    #[test]
    fn existing_output_and_resume() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("r");
        let o = fresh(&out, &[]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let before = std::fs::read(out.join("run.json")).unwrap();

        // An existing record is refused without --force/--resume, and left untouched.
        let o = fresh(&out, &[]);
        assert_refused(&o, &["already exists", "--force", &s(&out)], None);
        assert_eq!(std::fs::read(out.join("run.json")).unwrap(), before);

        // --resume with a different configuration names the differing keys.
        let o = fresh(&out, &["--resume", "--lr", "0.5", "--steps", "2"]);
        let err = assert_refused(&o, &["differs", "lr", "steps"], None);
        assert!(
            !err.contains("seed"),
            "only differing keys are named: {err}"
        );
        assert_eq!(std::fs::read(out.join("run.json")).unwrap(), before);

        // --resume of a directory without a record.
        let none = tmp.path().join("never-ran");
        let o = fresh(&none, &["--resume"]);
        assert_refused(&o, &["nothing to resume", "never-ran"], Some(&none));

        // --resume of a toy record.
        let toy_out = tmp.path().join("toy");
        let o = toy(&toy_out, &[]);
        assert!(o.status.success());
        let o = fresh(&toy_out, &["--resume"]);
        assert_refused(&o, &["cannot resume", "llm probe"], None);
    }
}
