//! Training throughput of a causal LM on tch: SGD steps at batch 1. By default a
//! Pythia-shaped GPT-NeoX; `--model DIR` trains a Hugging Face directory of any family.
//! The Rust half of `bench/neox_throughput.sh` and `bench/family_throughput.sh` (the other
//! half is `bench/neox_throughput.py`, Hugging Face Transformers on the same model, threads
//! and step).
//!
//! ```text
//! cargo run --release -p reawaken-llm --example train_throughput -- \
//!     [--width 256] [--depth 4] [--heads 8] [--vocab 50304] [--model DIR] [--context 256] \
//!     [--steps 10] [--warmup 2] [--threads N] [--lr 1e-3] [--seed 0] [--device cpu]
//! ```
//! Prints one JSON line: `{"impl":"reawaken", "tokens_per_s": ..., "step_ms": ..., ...}`.

use std::time::Instant;

use reawaken_llm::model::presets::{from_preset, InitScheme, ShapeOverrides};
use reawaken_llm::{load_hf_dir, select_device, ModelConfig};
use tch::nn::OptimizerConfig;
use tch::{nn, Kind, Tensor};

fn main() {
    if let Err(e) = run() {
        eprintln!("train_throughput: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let mut width = 256i64;
    let mut depth = 4i64;
    let mut heads = 8i64;
    let mut vocab = 50304i64;
    let mut context = 256i64;
    let mut steps = 10usize;
    let mut warmup = 2usize;
    let mut threads = 0i32;
    let mut lr = 1e-3f64;
    let mut seed = 0i64;
    let mut device = "cpu".to_string();
    let mut model: Option<std::path::PathBuf> = None;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let val = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {val}: {e}");
        match flag.as_str() {
            "--width" => width = val.parse().map_err(|e| bad(&e))?,
            "--depth" => depth = val.parse().map_err(|e| bad(&e))?,
            "--heads" => heads = val.parse().map_err(|e| bad(&e))?,
            "--vocab" => vocab = val.parse().map_err(|e| bad(&e))?,
            "--context" => context = val.parse().map_err(|e| bad(&e))?,
            "--steps" => steps = val.parse().map_err(|e| bad(&e))?,
            "--warmup" => warmup = val.parse().map_err(|e| bad(&e))?,
            "--threads" => threads = val.parse().map_err(|e| bad(&e))?,
            "--lr" => lr = val.parse().map_err(|e| bad(&e))?,
            "--seed" => seed = val.parse().map_err(|e| bad(&e))?,
            "--device" => device = val.clone(),
            "--model" => model = Some(val.into()),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if steps == 0 {
        return Err("--steps must be at least 1".to_string());
    }
    if threads > 0 {
        tch::set_num_threads(threads);
    }
    let device = select_device(&device).map_err(|e| e.to_string())?;
    let shape = ShapeOverrides {
        width: Some(width),
        intermediate: Some(4 * width),
        depth: Some(depth),
        heads: Some(heads),
        vocab: Some(vocab),
        context: Some(context.max(2048)),
    };
    let m = match &model {
        Some(dir) => load_hf_dir(dir, device),
        None => from_preset("pythia-70m", &shape, InitScheme::Pythia, seed, device),
    }
    .map_err(|e| e.to_string())?;
    // Image GPT predicts no start-of-sequence id: draw the targets among the others.
    let vocab = match &m.config {
        ModelConfig::Gpt2(c) => c.output_rows(),
        c => c.vocab_size(),
    };
    let s = m.config.shape();
    let (width, depth, heads) = (s.width, s.depth, s.heads);
    let mut opt = nn::Sgd::default()
        .build(&m.vs, lr)
        .map_err(|e| e.to_string())?;
    tch::manual_seed(seed + 1);
    let ids = Tensor::randint(vocab, [1, context], (Kind::Int64, device));
    let mut last = f64::NAN;
    let step = |opt: &mut nn::Optimizer| {
        let loss = m.model.loss(&ids, None).unwrap();
        opt.backward_step(&loss);
        loss.double_value(&[])
    };
    for _ in 0..warmup {
        last = step(&mut opt);
    }
    let t0 = Instant::now();
    for _ in 0..steps {
        last = step(&mut opt);
    }
    let secs = t0.elapsed().as_secs_f64();
    let tokens = (steps as i64 * context) as f64;
    println!(
        "{{\"impl\":\"reawaken\",\"tokens_per_s\":{:.1},\"step_ms\":{:.2},\"steps\":{steps},\"context\":{context},\"model_type\":\"{}\",\"width\":{width},\"depth\":{depth},\"heads\":{heads},\"vocab\":{vocab},\"threads\":{},\"params\":{},\"last_loss\":{last:.4}}}",
        tokens / secs,
        1000.0 * secs / steps as f64,
        m.config.model_type(),
        tch::get_num_threads(),
        m.num_parameters()
    );
    Ok(())
}
