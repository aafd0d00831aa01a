//! What a probe run will need in memory, estimated from the settings and the model's
//! shape before anything is allocated, so a run that cannot fit is refused with the
//! estimate instead of being killed by the kernel half-way (docs/llm-probe.md, *Memory*).
//!
//! The estimate counts float32 parameters, their gradients, the optimizer state, the
//! snapshot `pairwise` keeps, the copy a safe point serialises, the activations of one
//! training step and of one evaluation pass, the recorders' arrays and their end-of-run
//! analyses, the loss matrix and the schedule. It is an estimate: the measured peak RSS
//! of the presets that fit this machine is in docs/llm-probe.md.

use std::fmt;

use crate::model::family::ModelConfig;
use crate::probe::config::ProbeConfig;
use crate::probe::trainer::Optim;

/// Bytes of one float32.
const F32: f64 = 4.0;
/// Bytes of one float64.
const F64: f64 = 8.0;
/// The evaluation pass is split so that its logits hold at most this many elements.
pub const EVAL_LOGITS_BUDGET: usize = 1 << 27;
/// Memory the process itself needs besides the run (libtorch, code, allocator slack):
/// measured 119 MB of RSS for `reawaken-llm` after loading libtorch (a dry run), 201 MB
/// for the whole default tiny run, on the CPU.
const BASE_BYTES: f64 = 256.0 * 1024.0 * 1024.0;
/// What the CUDA backend's libraries add to the process when a CUDA device is asked for
/// (measured on the CPU when they were always mapped: ~400 MB more RSS).
const CUDA_LIBRARY_BYTES: f64 = 512.0 * 1024.0 * 1024.0;

/// An estimate, part by part, in bytes. `device` parts live on the model's device (GPU
/// memory with `--device cuda`), `host` parts in the machine's RAM.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryEstimate {
    pub device: Vec<(&'static str, f64)>,
    pub host: Vec<(&'static str, f64)>,
}

impl MemoryEstimate {
    pub fn device_bytes(&self) -> f64 {
        self.device.iter().map(|(_, b)| b).sum()
    }

    pub fn host_bytes(&self) -> f64 {
        self.host.iter().map(|(_, b)| b).sum()
    }

    /// The `k` largest parts that must fit in RAM, as `name size` text.
    pub fn largest(&self, on_cpu: bool, k: usize) -> String {
        let mut parts: Vec<(&str, f64)> = self.host.clone();
        if on_cpu {
            parts.extend(self.device.iter().cloned());
        }
        parts.sort_by(|a, b| b.1.total_cmp(&a.1));
        parts
            .iter()
            .take(k)
            .map(|(n, b)| format!("{n} {}", human_bytes(*b)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// What must fit in RAM: everything on the CPU, the host parts on a GPU.
    pub fn ram_bytes(&self, on_cpu: bool) -> f64 {
        if on_cpu {
            self.device_bytes() + self.host_bytes()
        } else {
            self.host_bytes()
        }
    }
}

/// `12.3 GiB`, `512 MiB`, or `more than 10^18 bytes`.
pub fn human_bytes(b: f64) -> String {
    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
    if !b.is_finite() || b > 1e18 {
        "more than 10^18 bytes".into()
    } else if b >= GIB {
        format!("{:.1} GiB", b / GIB)
    } else {
        format!("{:.0} MiB", (b / (1024.0 * 1024.0)).max(1.0))
    }
}

/// `about 12.3 GiB`, or `more than 10^18 bytes`.
pub fn approx_bytes(b: f64) -> String {
    if !b.is_finite() || b > 1e18 {
        human_bytes(b)
    } else {
        format!("about {}", human_bytes(b))
    }
}

impl fmt::Display for MemoryEstimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |parts: &[(&str, f64)]| {
            parts
                .iter()
                .filter(|(_, b)| *b >= 1024.0 * 1024.0)
                .map(|(n, b)| format!("{n} {}", human_bytes(*b)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(
            f,
            "on the model's device {} ({}); in host memory {} ({})",
            human_bytes(self.device_bytes()),
            list(&self.device),
            human_bytes(self.host_bytes()),
            list(&self.host)
        )
    }
}

/// Episodes of the run, whatever the draws (T·E plus the most one-off documents).
pub fn max_episodes(cfg: &ProbeConfig) -> f64 {
    let e = cfg.epochs as f64;
    cfg.tasks as f64 * e + cfg.insert_random.max as f64 * (e - 1.0).max(0.0)
}

/// The estimate for `cfg` on a model of shape `model`.
pub fn estimate(cfg: &ProbeConfig, model: &ModelConfig) -> MemoryEstimate {
    let p = model.num_parameters().max(0) as f64;
    let p = if model.num_parameters() < 0 {
        f64::INFINITY
    } else {
        p
    };
    let shape = model.shape();
    let d = shape.width.max(0) as f64;
    let layers = shape.depth.max(0) as f64;
    let heads = shape.heads.max(0) as f64;
    let inter = shape.intermediate.max(0) as f64;
    let vocab = shape.vocab.max(0) as f64;
    let c = cfg.context as f64;
    let t = cfg.tasks as f64;
    let n = max_episodes(cfg) + 1.0;
    let r = cfg.record;
    // One training step at batch 1: what autograd keeps per block (inputs of the
    // LayerNorms, QKV, attention probabilities, MLP), plus logits and their gradient.
    let per_block = c * (10.0 * d + 2.0 * inter) + 3.0 * heads * c * c;
    let train = F32 * (layers * per_block + 3.0 * c * vocab);
    let eval_logits = (t * c * vocab)
        .min(EVAL_LOGITS_BUDGET as f64)
        .max(c * vocab);
    let eval = F32 * (2.0 * eval_logits + t.min(64.0) * c * d * 4.0);
    let adam = if cfg.optimizer == Optim::Adam {
        2.0
    } else {
        0.0
    };
    let mut device = vec![
        ("parameters", F32 * p),
        ("gradients", F32 * p),
        ("optimizer state", F32 * p * adam),
        ("training activations", train),
        ("evaluation", eval),
    ];
    if r.pairwise {
        device.push(("pairwise snapshot", F32 * p));
    }
    // A series of rows of width `w` (exact D, or the sketch's k) for a vector of `dim`:
    // the rows, the previous exact vector, and the end's residual and PCA (float64).
    let sketched = |dim: f64| {
        if dim > cfg.sketch_budget as f64 {
            cfg.sketch_dim as f64
        } else {
            dim
        }
    };
    let series = |dim: f64| F32 * n * sketched(dim) + 3.0 * F64 * n * sketched(dim);
    // A sketched series' table of bucket and sign codes (4 bytes a coordinate), kept
    // only for vectors of at most HASH_TABLE_MAX coordinates.
    let hash_table = |dim: f64| {
        let max = crate::probe::recorders::sketch::HASH_TABLE_MAX as f64;
        if dim > cfg.sketch_budget as f64 && dim <= max {
            4.0 * dim
        } else {
            0.0
        }
    };
    let mut host = vec![
        ("process", BASE_BYTES),
        ("safe-point copy", F32 * p),
        ("losses and schedule", 2.0 * F32 * n * t + 16.0 * n),
    ];
    if cfg.device.starts_with("cuda") {
        host.push(("CUDA libraries", CUDA_LIBRARY_BYTES));
    }
    if cfg.model.is_some() {
        host.push(("loading the weights", F32 * p));
    }
    if r.weights {
        device.push(("weights: previous vectors", 2.0 * F32 * p));
        host.push(("weights recorder", 2.0 * series(p) + 2.0 * F64 * n * n));
        // Its two series (weights_params, pca_params) each may keep one.
        host.push(("weights: sketch hash tables", 2.0 * hash_table(p)));
    }
    if r.acts {
        let dim = c * d;
        host.push(("acts recorder", series(dim) + F64 * n * n + hash_table(dim)));
    }
    if r.grads {
        device.push(("grads", F32 * t * 4.0 * d * d));
    }
    MemoryEstimate { device, host }
}

/// The memory this machine can give a new process now: `MemAvailable` of
/// `/proc/meminfo` (Linux), or `None` where it cannot be read.
pub fn available_ram() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::presets::{preset_config, ShapeOverrides};

    #[test]
    fn estimate_grows_with_the_run_and_is_finite() {
        let cfg = ProbeConfig::default();
        let m = preset_config("tiny", &ShapeOverrides::default()).unwrap();
        let e = estimate(&cfg, &m);
        let small = e.ram_bytes(true);
        assert!(small.is_finite() && small > BASE_BYTES);
        // Parameters of the tiny preset (50304 vocab): 4 bytes each, on the device.
        assert_eq!(e.device[0], ("parameters", 4.0 * m.num_parameters() as f64));
        let long = ProbeConfig {
            epochs: 1_000_000_000,
            ..Default::default()
        };
        assert!(estimate(&long, &m).ram_bytes(true) > 1e12);
        let huge = ProbeConfig {
            epochs: usize::MAX,
            sketch_dim: usize::MAX,
            sketch_budget: 0,
            ..Default::default()
        };
        let h = estimate(&huge, &m).ram_bytes(true);
        assert!(h > 1e18, "{h}");
        assert_eq!(human_bytes(h), "more than 10^18 bytes");
        assert_eq!(human_bytes(3.0 * 1024.0 * 1024.0 * 1024.0), "3.0 GiB");
    }
}
