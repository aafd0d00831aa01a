//! End-to-end tests of `reawaken llm probe` (the real binary): resume after SIGKILL is
//! bit-for-bit, SIGINT stops cleanly, divergence is recorded, bad inputs are refused, and
//! the loss matrix matches the protocol written with Hugging Face Transformers.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_reawaken");
use reawaken_testkit::cli::TEST_THREADS;
use reawaken_testkit::sweep::episodes_done;

/// A tiny, fast configuration (CPU, 2 threads), with a safe point after every episode
/// (the signal tests send theirs once `run.json` counts k episodes; automatic safe points
/// would come every few episodes of a run this fast).
fn tiny_args(out: &Path) -> Vec<String> {
    probe_args(
        "--width 32 --depth 2 --heads 4 --tasks 4 --context 24 --steps 3 --epochs 4 --lr 0.02 --seed 3 --record all --pairwise-epoch 2 --checkpoint-every 1",
        out,
    )
}

fn run(args: &[String]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .env("OMP_NUM_THREADS", TEST_THREADS)
        .output()
        .expect("binary runs")
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn run_json(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("run.json")).unwrap()).unwrap()
}

/// `llm probe --device cpu <flags> --out <out>` as owned arguments (`flags`: separated by
/// whitespace; none of them contains a space).
fn probe_args(flags: &str, out: &Path) -> Vec<String> {
    ["llm", "probe", "--device", "cpu"]
        .into_iter()
        .chain(flags.split_whitespace())
        .map(str::to_string)
        .chain(["--out".to_string(), out.display().to_string()])
        .collect()
}

const ARRAYS: [&str; 14] = [
    "losses.npy",
    "order.npy",
    "grad_cosine.npy",
    "pairwise.npy",
    "weights.npy",
    "weights_residual_cosine.npy",
    "weights_residual_pca.npy",
    "weights_pca.npy",
    "weights_update_norm.npy",
    "pca_weights.npy",
    "pca_weights_update_norm.npy",
    "acts.npy",
    "acts_cosine.npy",
    "acts_change_norm.npy",
];

/// Spawns the run and sends `signal` once it has done at least `after` episodes.
fn run_and_signal(
    args: &[String],
    out: &Path,
    after: usize,
    signal: &str,
) -> std::process::ExitStatus {
    let mut child = Command::new(BIN)
        .args(args)
        .env("OMP_NUM_THREADS", TEST_THREADS)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status; // finished before the signal
        }
        if episodes_done(out) >= after as u64 || start.elapsed() > Duration::from_secs(120) {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let pid = child.id().to_string();
    Command::new("kill").args([signal, &pid]).status().unwrap();
    child.wait().unwrap()
}

fn compare_records(a: &Path, b: &Path) {
    for f in ARRAYS {
        let x =
            std::fs::read(a.join(f)).unwrap_or_else(|_| panic!("{f} missing in {}", a.display()));
        let y =
            std::fs::read(b.join(f)).unwrap_or_else(|_| panic!("{f} missing in {}", b.display()));
        assert!(
            x == y,
            "{f} differs between the uninterrupted and the resumed run"
        );
    }
    assert_eq!(run_json(a)["metrics"], run_json(b)["metrics"]);
}

fn pseudo_random(n: usize) -> usize {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as usize;
    t % n
}

#[test]
fn sigkill_then_resume_is_bit_for_bit_and_sigint_stops_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    let o = run(&tiny_args(&base));
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("recovery score"), "{stdout}");
    assert_eq!(run_json(&base)["status"], "complete");
    assert!(
        !base.join("checkpoint").exists(),
        "checkpoint removed at completion"
    );

    // SIGKILL at a random episode (1..16), then --resume.
    let killed = tmp.path().join("killed");
    let at = 1 + pseudo_random(14);
    let status = run_and_signal(&tiny_args(&killed), &killed, at, "-KILL");
    eprintln!("killed after >= {at} episodes: {status:?}");
    if !status.success() {
        assert_eq!(run_json(&killed)["status"], "running");
        // Arrays on disk are readable (never half-written).
        assert!(killed.join("losses.npy").is_file());
    }
    let mut resume = tiny_args(&killed);
    resume.push("--resume".into());
    let o = run(&resume);
    assert!(o.status.success(), "{}", stderr(&o));
    compare_records(&base, &killed);

    // SIGINT: clean stop, consistent record, exit 130; then resume completes identically.
    let int = tmp.path().join("int");
    let at = 2 + pseudo_random(10);
    let status = run_and_signal(&tiny_args(&int), &int, at, "-INT");
    if !status.success() {
        assert_eq!(status.code(), Some(130), "SIGINT exit status");
        let info = run_json(&int);
        assert_eq!(info["status"], "interrupted");
        assert!(info["message"].as_str().unwrap_or("").contains("--resume"));
        let done = info["episodes_done"].as_u64().unwrap() as usize;
        let losses = std::fs::read(int.join("losses.npy")).unwrap();
        // rows = done + 1, 4 float32 each, after the npy header.
        let header_len = u16::from_le_bytes([losses[8], losses[9]]) as usize + 10;
        assert_eq!(losses.len() - header_len, (done + 1) * 4 * 4);
        // The stopped record holds the recorders' arrays so far (their rows are also in
        // the checkpoint's logs, which a resume reads).
        let acts = std::fs::read(int.join("acts_change_norm.npy")).unwrap();
        let header_len = u16::from_le_bytes([acts[8], acts[9]]) as usize + 10;
        assert_eq!(acts.len() - header_len, done * 4);
        assert!(int.join("checkpoint/weights.rows").is_file());
        // A record without logs (as an older version stopped it) resumes from its arrays.
        let old = tmp.path().join("int-without-logs");
        reawaken_testkit::cli::copy_record(&int, &old);
        for e in std::fs::read_dir(old.join("checkpoint")).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "rows") {
                std::fs::remove_file(p).unwrap();
            }
        }
        let mut resume = tiny_args(&old);
        resume.push("--resume".into());
        let o = run(&resume);
        assert!(o.status.success(), "{}", stderr(&o));
        compare_records(&base, &old);
    }
    let mut resume = tiny_args(&int);
    resume.push("--resume".into());
    let o = run(&resume);
    assert!(o.status.success(), "{}", stderr(&o));
    compare_records(&base, &int);

    // --resume with a different configuration is refused, naming the keys.
    let mut other = tiny_args(&int);
    other.extend(["--resume", "--steps", "4", "--lr", "0.5"].map(String::from));
    let o = run(&other);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("`steps`") && e.contains("`lr`"), "{e}");
    // An existing record without --force/--resume is refused.
    let o = run(&tiny_args(&int));
    assert!(!o.status.success());
    assert!(!stderr(&o).contains("panicked"));
}

#[test]
fn divergence_stops_with_status_and_arrays() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("div");
    let mut args = tiny_args(&out);
    let i = args.iter().position(|a| a == "0.02").unwrap();
    args[i] = "1000".into();
    let o = run(&args);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("diverged") && !e.contains("panicked"), "{e}");
    let info = run_json(&out);
    assert_eq!(info["status"], "diverged");
    let ep = info["diverged_at_episode"].as_u64().unwrap();
    assert!(ep >= 1);
    let done = info["episodes_done"].as_u64().unwrap();
    assert!(done + 1 >= ep);
    // losses.npy is a valid array with episodes_done + 1 rows.
    let losses = std::fs::read(out.join("losses.npy")).unwrap();
    let header_len = u16::from_le_bytes([losses[8], losses[9]]) as usize + 10;
    assert_eq!(losses.len() - header_len, (done as usize + 1) * 4 * 4);
    let order = std::fs::read(out.join("order.npy")).unwrap();
    let header_len = u16::from_le_bytes([order[8], order[9]]) as usize + 10;
    assert_eq!(order.len() - header_len, done as usize * 8);
}

fn expect_error(extra: &[&str], needle: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    let mut args = tiny_args(&out);
    args.extend(extra.iter().map(|s| s.to_string()));
    let o = run(&args);
    assert!(!o.status.success(), "{extra:?} should fail");
    let e = stderr(&o);
    assert!(e.contains(needle), "{extra:?}: expected `{needle}` in: {e}");
    assert!(!e.contains("panicked") && !e.contains("backtrace"), "{e}");
    assert_eq!(e.trim().lines().count(), 1, "one plain message: {e}");
    if let Ok(b) = std::fs::read(out.join("run.json")) {
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_ne!(v["status"], "complete");
    }
}

#[test]
fn bad_inputs_are_refused_plainly() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(
        d.join("short.txt"),
        "a longer first document\n\nx\n\nthird document here\n",
    )
    .unwrap();
    std::fs::write(d.join("bad.txt"), b"valid start \xff\xfe then junk").unwrap();
    std::fs::write(d.join("docs.jsonl"), "{\"article\": \"some text here\"}\n").unwrap();
    std::fs::write(d.join("broken.jsonl"), "{\"text\": \"ok\"}\nnot json\n").unwrap();
    let p = |n: &str| d.join(n).display().to_string();
    expect_error(&["--docs", &p("missing.txt")], "missing.txt");
    expect_error(
        &[
            "--docs",
            &p("short.txt"),
            "--tasks",
            "3",
            "--sample",
            "first",
        ],
        "at least 2",
    );
    expect_error(&["--docs", &p("bad.txt"), "--tasks", "1"], "not UTF-8");
    expect_error(
        &["--docs", &p("docs.jsonl"), "--tasks", "1"],
        "--text-field",
    );
    expect_error(&["--docs", &p("broken.jsonl"), "--tasks", "1"], "line 2");
    expect_error(
        &["--docs", &p("short.txt"), "--tasks", "5"],
        "more than the 3 documents",
    );
    expect_error(&["--context", "1"], "--context");
    expect_error(&["--tasks", "0"], "--tasks");
    expect_error(&["--epochs", "0"], "--epochs");
    expect_error(&["--lr", "-1"], "--lr");
    expect_error(&["--lr", "NaN"], "--lr");
    expect_error(&["--optimizer", "rmsprop"], "--optimizer");
    expect_error(&["--order", "random"], "--order");
    expect_error(&["--record", "grads,foo"], "--record");
    expect_error(&["--freeze-blocks", "9"], "--freeze-blocks");
    expect_error(&["--mask-prob", "1.5"], "--mask-prob");
    expect_error(&["--insert-random", "100"], "--insert-random");
    expect_error(&["--partial-shuffle", "11"], "--partial-shuffle");
    expect_error(&["--partial-shuffle", "2"], "--partial-shuffle");
    expect_error(&["--window-shift", "33"], "--window-shift");
    expect_error(&["--weights-param", "nope.*"], "--weights-param");
    expect_error(&["--pca-param", "nope.*"], "--pca-param");
    expect_error(&["--grads-param", "nope"], "--grads-param");
    expect_error(
        &["--model", "/nonexistent", "--intermediate-size", "64"],
        "--intermediate-size",
    );
    expect_error(&["--width", "30"], "divisible");
}

fn read_npy_f32(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let b = std::fs::read(path).unwrap();
    let hl = u16::from_le_bytes([b[8], b[9]]) as usize;
    let header = String::from_utf8_lossy(&b[10..10 + hl]).to_string();
    assert!(header.contains("'<f4'"), "{header}");
    let shape_txt = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let shape: Vec<usize> = shape_txt
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let data = b[10 + hl..]
        .chunks(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    (shape, data)
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Max relative difference between our loss matrix and the Transformers protocol's
/// (bench/probe_hf.py: per-document evaluation, batch 1) on a parity fixture: T=6, C=48,
/// M=3, E=2, SGD lr 1e-2, first 6 built-in documents. The reference matrices were produced
/// by that script (see tests/llm_probe_fixtures/README.md).
fn loss_matrix_difference(fixture: &str, docs: &Path, context: usize, reference: &str) -> f32 {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("parity");
    let model = repo().join("tests/fixtures").join(fixture);
    let flags = format!(
        "--model {} --docs {} --sample first --tasks 6 --context {context} --steps 3 --epochs 2 --optimizer sgd --lr 1e-2 --record none",
        model.display(),
        docs.display()
    );
    let o = run(&probe_args(&flags, &out));
    assert!(o.status.success(), "{fixture}: {}", stderr(&o));
    let (shape, ours) = read_npy_f32(&out.join("losses.npy"));
    let (hshape, hf) = read_npy_f32(&repo().join("tests/llm_probe_fixtures").join(reference));
    assert_eq!(shape, vec![13, 6]);
    assert_eq!(shape, hshape);
    let mut worst = 0f32;
    for (a, b) in ours.iter().zip(&hf) {
        worst = worst.max((a - b).abs() / b.abs());
    }
    eprintln!("{fixture}: max relative difference to Transformers: {worst:e}");
    worst
}

#[test]
fn loss_matrix_matches_transformers_protocol() {
    let docs = repo().join("llm/corpus/builtin.txt");
    let worst = loss_matrix_difference("neox-parallel", &docs, 48, "hf_losses_t6_c48_m3_e2.npy");
    assert!(worst < 1e-3, "max relative difference {worst}");
}

/// GPT-2, Llama, Qwen2, Mistral and Image GPT (on images, C = 64 pixels) run the same
/// protocol to the same loss matrix.
#[test]
fn every_familys_loss_matrix_matches_transformers_protocol() {
    let text = repo().join("llm/corpus/builtin.txt");
    for family in ["gpt2", "llama", "qwen2", "mistral"] {
        let reference = format!("hf_losses_{family}_t6_c48_m3_e2.npy");
        let worst = loss_matrix_difference(family, &text, 48, &reference);
        assert!(worst < 1e-3, "{family}: max relative difference {worst}");
    }
    let images = repo().join("tests/fixtures/imagegpt/images.npy");
    let worst = loss_matrix_difference(
        "imagegpt",
        &images,
        64,
        "hf_losses_imagegpt_t6_c64_m3_e2.npy",
    );
    assert!(worst < 1e-3, "imagegpt: max relative difference {worst}");
}

/// Images and Image GPT go together; a wrong array or a wrong pairing is one plain sentence.
#[test]
fn image_documents_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let images = repo().join("tests/fixtures/imagegpt/images.npy");
    let igpt = repo().join("tests/fixtures/imagegpt");
    let floats = tmp.path().join("floats.npy");
    ndarray_npy::write_npy(&floats, &ndarray::Array4::<f32>::zeros((2, 8, 8, 3))).unwrap();
    let small = tmp.path().join("small.npy");
    ndarray_npy::write_npy(&small, &ndarray::Array4::<u8>::zeros((6, 4, 4, 3))).unwrap();
    let text = repo().join("llm/corpus/builtin.txt");
    let cases = [
        (
            format!("--docs {}", images.display()),
            "needs an Image GPT model",
        ),
        (
            format!("--model {} --docs {}", igpt.display(), text.display()),
            "reads images, not text",
        ),
        (
            format!("--model {} --docs {}", igpt.display(), floats.display()),
            "uint8",
        ),
        (
            format!("--model {} --docs {}", igpt.display(), small.display()),
            "resize them first",
        ),
    ];
    for (k, (flags, needle)) in cases.iter().enumerate() {
        let out = tmp.path().join(format!("r{k}"));
        let o = run(&probe_args(
            &format!("{flags} --tasks 2 --context 16"),
            &out,
        ));
        assert!(!o.status.success(), "{flags} should fail");
        let e = stderr(&o);
        assert!(e.contains(needle), "{flags}: expected `{needle}` in: {e}");
        assert!(!e.contains("panicked"), "{e}");
        assert_eq!(e.trim().lines().count(), 1, "one plain message: {e}");
        assert!(
            !out.join("run.json").exists(),
            "{flags}: nothing is written"
        );
    }
}

/// Every recorder and every variant (frozen blocks, masking, random window) on every
/// family: the run completes with finite arrays, the recorders resolve the family's own
/// names (the default `attention.*` and `embed_out.weight` included), and the frozen
/// first block and embeddings do not move while the last block does.
#[test]
fn every_family_runs_every_recorder_and_variant() {
    let tmp = tempfile::tempdir().unwrap();
    let text = repo().join("llm/corpus/builtin.txt");
    let images = repo().join("tests/fixtures/imagegpt/images.npy");
    // (fixture, first block's prefix, last block's prefix, attention module, PCA matrix)
    let families = [
        (
            "neox-parallel",
            "gpt_neox.layers.0.",
            "gpt_neox.layers.2.",
            ".attention.",
            "embed_out.weight",
        ),
        (
            "gpt2",
            "transformer.h.0.",
            "transformer.h.2.",
            ".attn.",
            "transformer.wte.weight",
        ),
        (
            "llama",
            "model.layers.0.",
            "model.layers.2.",
            ".self_attn.",
            "lm_head.weight",
        ),
        (
            "qwen2",
            "model.layers.0.",
            "model.layers.2.",
            ".self_attn.",
            "model.embed_tokens.weight",
        ),
        (
            "mistral",
            "model.layers.0.",
            "model.layers.1.",
            ".self_attn.",
            "lm_head.weight",
        ),
        (
            "imagegpt",
            "transformer.h.0.",
            "transformer.h.1.",
            ".attn.",
            "lm_head.weight",
        ),
    ];
    for (fixture, first, last, attention, pca) in families {
        let docs = if fixture == "imagegpt" {
            &images
        } else {
            &text
        };
        for (param, frozen) in [(first, true), (last, false)] {
            let out = tmp.path().join(format!("{fixture}-{frozen}"));
            let flags = format!(
                "--model {} --docs {} --tasks 4 --context 24 --steps 2 --epochs 3 --lr 0.02 --record all --pairwise-epoch 2 --freeze-blocks 1 --mask-prob 0.2 --window-shift 4 --weights-param {param}*",
                repo().join("tests/fixtures").join(fixture).display(),
                docs.display()
            );
            let o = run(&probe_args(&flags, &out));
            assert!(o.status.success(), "{fixture}: {}", stderr(&o));
            let info = run_json(&out);
            assert_eq!(info["status"], "complete", "{fixture}");
            for f in ARRAYS {
                let (_, v) = read_npy_any(&out.join(f));
                // A frozen parameter has zero residuals, whose cosines are undefined (NaN).
                let defined = !(frozen && f.starts_with("weights_residual"));
                assert!(
                    !v.is_empty() && (!defined || v.iter().all(|x| x.is_finite())),
                    "{fixture}: {f}"
                );
            }
            let names = |key: &str| -> Vec<String> {
                serde_json::from_value(info["recorders"][key].clone())
                    .or_else(|_| serde_json::from_value(info[key].clone()))
                    .unwrap_or_else(|_| panic!("run.json has no {key}: {info}"))
            };
            let grads = names("grads_params");
            assert!(
                !grads.is_empty() && grads.iter().all(|n| n.contains(attention)),
                "{fixture}: {grads:?}"
            );
            assert_eq!(names("pca_params"), [pca], "{fixture}");
            let moved: ndarray::Array1<f32> =
                ndarray_npy::read_npy(out.join("weights_update_norm.npy")).unwrap();
            let total: f32 = moved.iter().map(|x| x.abs()).sum();
            if frozen {
                assert_eq!(total, 0.0, "{fixture}: frozen {param} moved");
            } else {
                assert!(total > 0.0, "{fixture}: {param} did not train");
            }
        }
    }
}

/// `--preset` keeps the preset's own shape; the default 128/2/4 shape belongs to the
/// default model only; explicit shape flags still override a preset.
#[test]
fn preset_shape_is_the_presets_unless_overridden() {
    let tmp = tempfile::tempdir().unwrap();
    let model_of = |extra: &[&str], name: &str| -> serde_json::Value {
        let out = tmp.path().join(name);
        let mut args = probe_args(
            "--tasks 2 --context 8 --steps 1 --epochs 1 --record none",
            &out,
        );
        args.extend(extra.iter().map(|s| s.to_string()));
        let o = run(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let info: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
        info["model"].clone()
    };
    let default = model_of(&[], "default");
    assert_eq!(
        (default["width"].as_i64(), default["depth"].as_i64()),
        (Some(128), Some(2))
    );
    let preset = model_of(&["--preset", "31m"], "preset");
    assert_eq!(
        (
            preset["width"].as_i64(),
            preset["depth"].as_i64(),
            preset["heads"].as_i64()
        ),
        (Some(256), Some(6), Some(8))
    );
    let narrowed = model_of(&["--preset", "31m", "--width", "64"], "narrowed");
    assert_eq!(
        (narrowed["width"].as_i64(), narrowed["depth"].as_i64()),
        (Some(64), Some(6))
    );
    // A GPT-2 preset is a GPT-2 with GPT-2's initialisation unless --init says otherwise.
    let gpt2 = model_of(
        &[
            "--preset", "gpt2", "--width", "64", "--depth", "2", "--heads", "4",
        ],
        "gpt2",
    );
    assert_eq!(gpt2["model_type"], "gpt2");
    assert_eq!(gpt2["source"], "preset gpt2 (gpt2 init)");
    let pythia_init = model_of(
        &[
            "--preset", "gpt2", "--width", "64", "--depth", "2", "--heads", "4", "--init", "pythia",
        ],
        "gpt2-pythia-init",
    );
    assert_eq!(pythia_init["source"], "preset gpt2 (pythia init)");
    assert_eq!(default["source"], "preset tiny (pythia init)");
}

fn read_npy_i64(path: &Path) -> Vec<i64> {
    let b = std::fs::read(path).unwrap();
    let hl = u16::from_le_bytes([b[8], b[9]]) as usize;
    let header = String::from_utf8_lossy(&b[10..10 + hl]).to_string();
    assert!(header.contains("'<i8'"), "{header}");
    b[10 + hl..]
        .chunks(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// Paper B.7: `--insert-random MIN-MAX` puts a random number (drawn per epoch with the
/// seed) of one-off documents after every epoch but the last; `order.npy` marks them −1
/// and `tasks.json` lists them.
#[test]
fn insert_random_range_puts_one_off_documents_between_repeats() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("insert");
    let args = probe_args(
        "--width 32 --depth 1 --heads 4 --tasks 4 --context 16 --steps 1 --epochs 4 --record none --insert-random 1-4 --seed 5",
        &out,
    );
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let order = read_npy_i64(&out.join("order.npy"));
    // Split into epochs: the 4 tasks in cyclic order, then the epoch's one-off documents.
    let mut counts = Vec::new();
    let mut rest = &order[..];
    while !rest.is_empty() {
        assert_eq!(&rest[..4], &[0, 1, 2, 3], "order.npy = {order:?}");
        let k = rest[4..].iter().take_while(|&&v| v == -1).count();
        counts.push(k);
        rest = &rest[4 + k..];
    }
    assert_eq!(counts.len(), 4, "{order:?}");
    assert!(
        counts[..3].iter().all(|k| (1..=4).contains(k)),
        "{counts:?}"
    );
    assert_eq!(counts[3], 0, "nothing is inserted after the last epoch");
    let tasks: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("tasks.json")).unwrap()).unwrap();
    let one_off = tasks["one_off_documents"].as_array().unwrap();
    assert_eq!(one_off.len(), counts.iter().sum::<usize>());
    let info = run_json(&out);
    assert_eq!(info["config"]["insert-random"], "1-4");
    let (shape, _) = read_npy_f32(&out.join("losses.npy"));
    assert_eq!(shape, vec![order.len() + 1, 4]);
}

/// The CPU thread count decides the last bits of the results, so run.json records it.
#[test]
fn cpu_thread_count_is_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("threads");
    let args = probe_args(
        "--width 32 --depth 1 --heads 4 --tasks 2 --context 8 --steps 1 --epochs 1 --record none",
        &out,
    );
    let o = Command::new(BIN)
        .args(&args)
        .env("RUST_LOG", "warn")
        .env("OMP_NUM_THREADS", "1")
        .output()
        .expect("binary runs");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(run_json(&out)["cpu_threads"], 1);
}

/// A probe started beside a run that holds every core uses the cores left (one thread
/// when none is) instead of spinning against it, says so, and records its count.
#[test]
fn a_probe_beside_a_busy_one_uses_the_free_cores() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        eprintln!(
            "SKIPPED a_probe_beside_a_busy_one_uses_the_free_cores: needs 2 cores, has {cores}"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (busy, beside) = (tmp.path().join("busy"), tmp.path().join("beside"));
    let small = "--width 32 --depth 1 --heads 4 --tasks 2 --context 8 --steps 1 --record none";
    let mut holder = Command::new(BIN)
        .args(probe_args(&format!("{small} --epochs 100000"), &busy))
        .env("OMP_NUM_THREADS", cores.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while episodes_done(&busy) < 1 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = Command::new(BIN)
        .args(probe_args(&format!("{small} --epochs 2"), &beside))
        .env("RUST_LOG", "warn")
        .env_remove("OMP_NUM_THREADS")
        .output()
        .expect("binary runs");
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(o.status.success(), "{}", stderr(&o));
    let threads = run_json(&beside)["cpu_threads"].as_u64().unwrap();
    assert!(
        threads >= 1 && (threads as usize) < cores,
        "{threads} threads beside a run holding all {cores} cores"
    );
    assert!(
        stderr(&o).contains("held by other reawaken runs"),
        "{}",
        stderr(&o)
    );
}

/// A process that is not a reawaken run holds no slot: the probe sees the cores it keeps
/// busy while setting itself up, uses the others, and says why.
#[test]
fn a_probe_beside_another_busy_process_uses_the_free_cores() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        eprintln!("SKIPPED a_probe_beside_another_busy_process_uses_the_free_cores: needs 2 cores, has {cores}");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("beside");
    // One spinning shell per core but one.
    let mut busy: Vec<_> = (0..cores - 1)
        .map(|_| {
            Command::new("sh")
                .args(["-c", "while :; do :; done"])
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let small =
        "--width 32 --depth 1 --heads 4 --tasks 2 --context 8 --steps 1 --epochs 2 --record none";
    let o = Command::new(BIN)
        .args(probe_args(small, &out))
        .env("RUST_LOG", "warn")
        .env_remove("OMP_NUM_THREADS")
        .output()
        .expect("binary runs");
    for b in busy.iter_mut() {
        let _ = b.kill();
        let _ = b.wait();
    }
    assert!(o.status.success(), "{}", stderr(&o));
    let threads = run_json(&out)["cpu_threads"].as_u64().unwrap() as usize;
    assert!(
        threads < cores,
        "{threads} threads beside {} busy cores",
        cores - 1
    );
    assert!(
        stderr(&o).contains("other processes kept"),
        "{}",
        stderr(&o)
    );
}

/// Any record array (float32, float64 or int64, any rank) as float64 values.
fn read_npy_any(path: &Path) -> (Vec<usize>, Vec<f64>) {
    use ndarray::ArrayD;
    if let Ok(a) = ndarray_npy::read_npy::<_, ArrayD<f32>>(path) {
        return (
            a.shape().to_vec(),
            a.iter().map(|&x| f64::from(x)).collect(),
        );
    }
    if let Ok(a) = ndarray_npy::read_npy::<_, ArrayD<f64>>(path) {
        return (a.shape().to_vec(), a.iter().copied().collect());
    }
    let a: ArrayD<i64> =
        ndarray_npy::read_npy(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (a.shape().to_vec(), a.iter().map(|&x| x as f64).collect())
}

fn npy_f64(path: &Path) -> ndarray::Array2<f64> {
    ndarray_npy::read_npy(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn npy_f32(path: &Path) -> ndarray::Array2<f32> {
    ndarray_npy::read_npy(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The recorders measure what the paper's figures show: `grads` over one block's whole
/// attention module after epoch P (Fig. 8a), `weights` residuals over all parameters
/// (Fig. 8c), and the PCA of the raw output-embedding weights (Fig. 9).
#[test]
fn recorders_follow_the_papers_checkpoints_and_parameters() {
    let tmp = tempfile::tempdir().unwrap();
    let flags = "--width 32 --depth 2 --heads 4 --intermediate-size 64 --tasks 4 --context 24 --steps 2 --lr 0.02 --seed 5 --record grads,weights --pairwise-epoch 2";
    let two = tmp.path().join("two");
    let four = tmp.path().join("four");
    for (dir, epochs) in [(&two, 2), (&four, 4)] {
        let o = run(&probe_args(&format!("{flags} --epochs {epochs}"), dir));
        assert!(o.status.success(), "{}", stderr(&o));
    }
    // Taken after epoch 2 in both runs: the epoch-4 run's later training does not move it.
    assert_eq!(
        std::fs::read(two.join("grad_cosine.npy")).unwrap(),
        std::fs::read(four.join("grad_cosine.npy")).unwrap(),
        "grad_cosine.npy must come from the parameters after epoch P"
    );
    let info = run_json(&four);
    let names = |key: &str| -> Vec<String> {
        serde_json::from_value(info["recorders"][key].clone())
            .or_else(|_| serde_json::from_value(info[key].clone()))
            .unwrap_or_else(|_| panic!("run.json has no {key}: {info}"))
    };
    assert_eq!(
        names("grads_params"),
        [
            "gpt_neox.layers.1.attention.dense.bias",
            "gpt_neox.layers.1.attention.dense.weight",
            "gpt_neox.layers.1.attention.query_key_value.bias",
            "gpt_neox.layers.1.attention.query_key_value.weight",
        ]
    );
    // All parameters of the width-32, MLP-64 model; the MLP width is recorded.
    assert_eq!(info["model"]["intermediate_size"], 64);
    let all = names("weights_params");
    assert!(
        all.contains(&"gpt_neox.embed_in.weight".to_string()),
        "{all:?}"
    );
    assert!(all.iter().any(|n| n.contains("dense_h_to_4h")), "{all:?}");
    assert_eq!(names("pca_params"), ["embed_out.weight"]);
    // Fig. 9: PCA of the raw embed_out trajectory, not of the residuals.
    let raw = npy_f32(&four.join("pca_weights.npy"));
    assert_eq!(raw.nrows(), 4 * 4 + 1);
    let want = reawaken_analysis::pca::pca(&raw, 3).unwrap().scores;
    let got = npy_f64(&four.join("weights_pca.npy"));
    for (g, w) in got.iter().zip(want.iter()) {
        assert!((g - w).abs() <= 1e-9 * (1.0 + w.abs()), "{g} vs {w}");
    }
    let res = npy_f64(&four.join("weights_residual_pca.npy"));
    assert_eq!(res.dim(), (17, 3));
    assert!(res
        .iter()
        .zip(got.iter())
        .any(|(a, b)| (a - b).abs() > 1e-6));
}

/// The paper's variants together (random window and mask per step, per-epoch cosine,
/// partial shuffle with the paper's N) record their geometry and resume bit for bit.
#[test]
fn variants_record_their_geometry_and_resume_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let args = |dir: &Path| {
        probe_args(
            "--width 32 --depth 2 --heads 4 --intermediate-size 64 --tasks 4 --context 24 --steps 3 --epochs 4 --lr 0.02 --seed 2 --record none --window-shift 4 --mask-prob 0.2 --lr-schedule cosine-epoch --partial-shuffle 3 --checkpoint-every 1",
            dir,
        )
    };
    let base = tmp.path().join("base");
    let o = run(&args(&base));
    assert!(o.status.success(), "{}", stderr(&o));
    let tasks: serde_json::Value =
        serde_json::from_slice(&std::fs::read(base.join("tasks.json")).unwrap()).unwrap();
    for t in tasks["tasks"].as_array().unwrap() {
        // The centre window [C/2, 3C/2) of a 2C-token block is evaluated.
        assert_eq!(t["eval_start"], 12, "{t}");
        assert_eq!(t["tokens_used"], 24, "{t}");
    }
    let cfg = &run_json(&base)["config"];
    assert_eq!(cfg["window-shift"], 4);
    assert_eq!(cfg["lr-schedule"], "cosine-epoch");
    let killed = tmp.path().join("killed");
    let _ = run_and_signal(&args(&killed), &killed, 1 + pseudo_random(12), "-KILL");
    let mut resume = args(&killed);
    resume.push("--resume".into());
    let o = run(&resume);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in ["losses.npy", "order.npy"] {
        assert!(
            std::fs::read(base.join(f)).unwrap() == std::fs::read(killed.join(f)).unwrap(),
            "{f} differs after the resume"
        );
    }
}
