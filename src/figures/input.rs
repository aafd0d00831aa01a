//! Reading run records for plotting: `run.json`, `losses.npy`, `order.npy` and the
//! optional arrays (`points.npy`, recorder outputs). Every failure names the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, Array3, ArrayD, Ix1, Ix2, Ix3, IxDyn};
use serde_json::Value;

use super::FigureError;

/// Config keys that do not change what is trained (ignored when grouping runs).
pub const NON_CONDITION_KEYS: &[&str] = &[
    "seed", "out", "force", "resume", "device", "config", "log", "record",
];

/// One run record, loaded.
#[derive(Debug, Clone)]
pub struct RunInput {
    pub dir: PathBuf,
    /// "toy" or "llm".
    pub kind: String,
    /// The resolved config (keys = CLI flag names).
    pub config: BTreeMap<String, Value>,
    pub seed: u64,
    /// Loss matrix (episodes + 1, T), row 0 before training.
    pub losses: Array2<f64>,
    /// Task trained in each episode (−1 = a one-off random document).
    pub order: Array1<i64>,
    /// `metrics.recovery_score` from run.json (None = undefined).
    pub recovery_score: Vec<Option<f64>>,
    /// `metrics.online_loss_mean` from run.json.
    pub online_loss_mean: Option<f64>,
    /// File names listed under `arrays` in run.json.
    pub listed_arrays: Vec<String>,
}

impl RunInput {
    /// Number of tasks T.
    pub fn tasks(&self) -> usize {
        self.losses.ncols()
    }

    /// Config with the keys that do not define the training condition removed.
    pub fn condition(&self) -> BTreeMap<String, Value> {
        self.config
            .iter()
            .filter(|(k, _)| !NON_CONDITION_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The `order` config value ("cyclic" when absent).
    pub fn order_name(&self) -> String {
        match self.config.get("order") {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => "cyclic".into(),
        }
    }

    /// Loads an optional 2-D array. `Ok(None)` when the file is absent and run.json
    /// does not list it; an error when it is listed but missing or unreadable.
    pub fn optional2(&self, name: &str) -> Result<Option<Array2<f64>>, FigureError> {
        self.optional::<Ix2>(name)
    }

    /// Like [`RunInput::optional2`] for 1-D arrays.
    pub fn optional1(&self, name: &str) -> Result<Option<Array1<f64>>, FigureError> {
        self.optional::<Ix1>(name)
    }

    /// Like [`RunInput::optional2`] for 3-D arrays.
    pub fn optional3(&self, name: &str) -> Result<Option<Array3<f64>>, FigureError> {
        self.optional::<Ix3>(name)
    }

    fn optional<D: ndarray::Dimension>(
        &self,
        name: &str,
    ) -> Result<Option<ndarray::Array<f64, D>>, FigureError> {
        let path = self.dir.join(name);
        if !path.exists() {
            if self.listed_arrays.iter().any(|a| a == name) {
                return Err(FigureError::MissingArray { path });
            }
            return Ok(None);
        }
        let a = read_float(&path)?;
        let nd = a.ndim();
        a.into_dimensionality::<D>()
            .map(Some)
            .map_err(|_| FigureError::Shape {
                path,
                msg: format!(
                    "expected {} dimensions, found {nd}",
                    D::NDIM.unwrap_or_default()
                ),
            })
    }
}

/// Reads a float32 or float64 `.npy` file as f64 (through the record readers, which
/// check the header's declared size against the file before allocating).
pub fn read_float(path: &Path) -> Result<ArrayD<f64>, FigureError> {
    if !path.exists() {
        return Err(FigureError::MissingArray {
            path: path.to_path_buf(),
        });
    }
    Ok(reawaken_analysis::record::read_npy_f64::<IxDyn>(path)?)
}

fn read_order(path: &Path) -> Result<Array1<i64>, FigureError> {
    if !path.exists() {
        return Err(FigureError::MissingArray {
            path: path.to_path_buf(),
        });
    }
    let header = reawaken_analysis::record::read_npy_header(path)?;
    let a: ArrayD<i64> = match header.descr.trim_start_matches(['<', '=', '|']) {
        "i4" => reawaken_analysis::record::read_npy::<i32, IxDyn>(path)?.mapv(i64::from),
        _ => reawaken_analysis::record::read_npy::<i64, IxDyn>(path)?,
    };
    let nd = a.ndim();
    a.into_dimensionality::<Ix1>()
        .map_err(|_| FigureError::Shape {
            path: path.to_path_buf(),
            msg: format!("expected 1 dimension, found {nd}"),
        })
}

/// Loads a run record directory. Fails (naming the file) when run.json, losses.npy
/// or order.npy is missing or inconsistent, or the run did not complete.
pub fn load_run(dir: &Path) -> Result<RunInput, FigureError> {
    let json_path = dir.join("run.json");
    let text = std::fs::read_to_string(&json_path).map_err(|e| FigureError::Io {
        path: json_path.clone(),
        source: e,
    })?;
    let v: Value = serde_json::from_str(&text).map_err(|e| FigureError::Json {
        path: json_path.clone(),
        msg: e.to_string(),
    })?;
    let bad = |msg: &str| FigureError::Json {
        path: json_path.clone(),
        msg: msg.to_string(),
    };
    let kind = v
        .get("kind")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no \"kind\" string"))?
        .to_string();
    let status = v
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("complete")
        .to_string();
    if status != "complete" {
        return Err(FigureError::NotComplete {
            dir: dir.to_path_buf(),
            status,
        });
    }
    let config: BTreeMap<String, Value> = match v.get("config") {
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        _ => return Err(bad("no \"config\" object")),
    };
    let seed = v
        .get("seed")
        .and_then(Value::as_u64)
        .or_else(|| config.get("seed").and_then(Value::as_u64))
        .unwrap_or(0);
    let recovery_score = match v.get("metrics").and_then(|m| m.get("recovery_score")) {
        Some(Value::Array(a)) => a.iter().map(Value::as_f64).collect(),
        _ => Vec::new(),
    };
    let online_loss_mean = v
        .get("metrics")
        .and_then(|m| m.get("online_loss_mean"))
        .and_then(Value::as_f64);
    let listed_arrays = match v.get("arrays") {
        Some(Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    };

    let losses_path = dir.join("losses.npy");
    let losses = read_float(&losses_path)?;
    let nd = losses.ndim();
    let losses = losses
        .into_dimensionality::<Ix2>()
        .map_err(|_| FigureError::Shape {
            path: losses_path.clone(),
            msg: format!("expected 2 dimensions (episodes+1, T), found {nd}"),
        })?;
    let order_path = dir.join("order.npy");
    let order = read_order(&order_path)?;
    if losses.nrows() != order.len() + 1 || losses.ncols() == 0 {
        return Err(FigureError::Shape {
            path: losses_path,
            msg: format!(
                "shape ({}, {}) does not match order.npy with {} episodes (expected {} rows)",
                losses.nrows(),
                losses.ncols(),
                order.len(),
                order.len() + 1
            ),
        });
    }
    let t = losses.ncols() as i64;
    if let Some(bad) = order.iter().find(|&&o| o < -1 || o >= t) {
        return Err(FigureError::Shape {
            path: order_path,
            msg: format!("task index {bad} outside -1..{t}"),
        });
    }
    Ok(RunInput {
        dir: dir.to_path_buf(),
        kind,
        config,
        seed,
        losses,
        order,
        recovery_score,
        online_loss_mean,
        listed_arrays,
    })
}
