//! Reading run records for plotting: `run.json` (a typed [`RunInfo`]), `losses.npy`,
//! `order.npy` and the optional arrays (`points.npy`, recorder outputs). Every failure
//! names the file; no reader panics on a malformed record or allocates more than the
//! file's size warrants (the `.npy` readers of `reawaken_analysis::record` check a
//! header's declared size against the file first). Shapes are checked against the
//! record before anything is drawn: the loss matrix against run.json ([`load_run`]), the
//! optional arrays against T, the episodes and E ([`RunInput::check_shape`]).

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, Array3, ArrayD, Ix1, Ix2, Ix3, IxDyn};
use reawaken_analysis::record::{self, RunInfo, RunKind, RunStatus, RUN_JSON};
use reawaken_analysis::settings::NON_CONDITION_KEYS;
use serde_json::Value;

use crate::FigureError;

/// Keys that records written by earlier versions stored in their config but that never
/// defined a condition (`out`: the record's own directory). Ignored when grouping, so
/// that the seeds of such records still form one condition.
const LEGACY_NON_CONDITION_KEYS: &[&str] = &["out"];

/// One axis of the shape a record's array must have, in terms of the record: T (tasks:
/// the columns of `losses.npy`, which match run.json's `config.tasks`), the episodes
/// (`order.npy`'s length, one less than the rows of `losses.npy`) and E (epochs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extent {
    /// T.
    Tasks,
    /// The episodes.
    Episodes,
    /// The episodes + 1 (row 0 = before training).
    Rows,
    /// E + 1 (index 0 = before training); E from run.json's `config.epochs`, else
    /// episodes / T.
    EpochsPlusOne,
    /// A fixed length (e.g. 3 PCA coordinates).
    Fixed(usize),
    /// Any length, named (e.g. the dimension M of a point).
    Any(&'static str),
}

/// One run record, loaded.
#[derive(Debug, Clone)]
pub struct RunInput {
    pub dir: PathBuf,
    /// `run.json`.
    pub info: RunInfo,
    /// Loss matrix (episodes + 1, T), row 0 before training.
    pub losses: Array2<f64>,
    /// Task trained in each episode (−1 = a one-off random document).
    pub order: Array1<i64>,
}

impl RunInput {
    /// What produced the record.
    pub fn kind(&self) -> RunKind {
        self.info.kind
    }

    /// The run's seed.
    pub fn seed(&self) -> u64 {
        self.info.seed
    }

    /// Number of tasks T.
    pub fn tasks(&self) -> usize {
        self.losses.ncols()
    }

    /// Number of episodes (`order.npy`'s length).
    pub fn episodes(&self) -> usize {
        self.order.len()
    }

    /// Number of epochs E: run.json's `config.epochs`, else episodes / T when T divides
    /// them; None when neither is known.
    pub fn epochs(&self) -> Option<usize> {
        match config_usize(&self.info.config, "epochs") {
            Some(e) => Some(e),
            None => {
                let t = self.tasks();
                (t > 0 && self.episodes().is_multiple_of(t)).then(|| self.episodes() / t)
            }
        }
    }

    /// The symbol and, when the record knows it, the length of one axis of an expected
    /// shape.
    fn extent(&self, e: Extent) -> (String, Option<usize>) {
        match e {
            Extent::Tasks => ("T".into(), Some(self.tasks())),
            Extent::Episodes => ("episodes".into(), Some(self.episodes())),
            Extent::Rows => ("episodes+1".into(), Some(self.episodes() + 1)),
            Extent::EpochsPlusOne => ("E+1".into(), self.epochs().map(|e| e + 1)),
            Extent::Fixed(n) => (n.to_string(), Some(n)),
            Extent::Any(name) => (name.into(), None),
        }
    }

    /// Checks the shape of the array `name` against the record: as many dimensions as
    /// `want`, each of the length the record gives it. The error names the file, the
    /// shape found and the one needed, e.g. `(7, 7) where the record needs (T, T) = (5, 5)`.
    pub fn check_shape(
        &self,
        name: &str,
        shape: &[usize],
        want: &[Extent],
    ) -> Result<(), FigureError> {
        let ext: Vec<(String, Option<usize>)> = want.iter().map(|e| self.extent(*e)).collect();
        let fits = shape.len() == want.len()
            && shape
                .iter()
                .zip(&ext)
                .all(|(n, (_, len))| len.is_none_or(|l| l == *n));
        if fits {
            return Ok(());
        }
        let tuple = |items: Vec<String>| match items.len() {
            1 => format!("({},)", items[0]),
            _ => format!("({})", items.join(", ")),
        };
        let symbols = tuple(ext.iter().map(|(s, _)| s.clone()).collect());
        let lengths = tuple(
            ext.iter()
                .map(|(s, l)| l.map_or_else(|| s.clone(), |l| l.to_string()))
                .collect(),
        );
        Err(FigureError::Shape {
            path: self.dir.join(name),
            msg: format!(
                "{} where the record needs {symbols} = {lengths}",
                tuple(shape.iter().map(usize::to_string).collect())
            ),
        })
    }

    /// Loads an optional 2-D array and checks its shape against the record
    /// ([`RunInput::check_shape`]).
    pub fn checked2(
        &self,
        name: &str,
        want: [Extent; 2],
    ) -> Result<Option<Array2<f64>>, FigureError> {
        self.checked::<Ix2>(name, &want)
    }

    /// Like [`RunInput::checked2`] for 1-D arrays.
    pub fn checked1(&self, name: &str, want: Extent) -> Result<Option<Array1<f64>>, FigureError> {
        self.checked::<Ix1>(name, &[want])
    }

    /// Like [`RunInput::checked2`] for 3-D arrays.
    pub fn checked3(
        &self,
        name: &str,
        want: [Extent; 3],
    ) -> Result<Option<Array3<f64>>, FigureError> {
        self.checked::<Ix3>(name, &want)
    }

    fn checked<D: ndarray::Dimension>(
        &self,
        name: &str,
        want: &[Extent],
    ) -> Result<Option<ndarray::Array<f64, D>>, FigureError> {
        let Some(a) = self.read_optional(name)? else {
            return Ok(None);
        };
        self.check_shape(name, a.shape(), want)?;
        into_dim(&self.dir.join(name), a).map(Some)
    }

    /// An optional array: `Ok(None)` when the file is absent and run.json does not list
    /// it; an error when it is listed but missing or unreadable.
    fn read_optional(&self, name: &str) -> Result<Option<ArrayD<f64>>, FigureError> {
        let path = self.dir.join(name);
        if !path.exists() {
            if self.info.arrays.contains_key(name) {
                return Err(FigureError::MissingArray { path });
            }
            return Ok(None);
        }
        read_float(&path).map(Some)
    }

    /// `metrics.recovery_score` from run.json (None = undefined).
    pub fn recovery_score(&self) -> &[Option<f64>] {
        &self.info.metrics.recovery_score
    }

    /// `metrics.online_loss_mean` from run.json.
    pub fn online_loss_mean(&self) -> Option<f64> {
        self.info.metrics.online_loss_mean
    }

    /// The config (an object) without the keys that do not define the training
    /// condition ([`NON_CONDITION_KEYS`]).
    pub fn condition(&self) -> Value {
        let keep = |k: &String| {
            !NON_CONDITION_KEYS.contains(&k.as_str())
                && !LEGACY_NON_CONDITION_KEYS.contains(&k.as_str())
        };
        let map = match &self.info.config {
            Value::Object(m) => m
                .iter()
                .filter(|(k, _)| keep(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            _ => serde_json::Map::new(),
        };
        Value::Object(map)
    }

    /// The `order` config value ("cyclic" when absent).
    pub fn order_name(&self) -> String {
        match self.info.config.get("order") {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => "cyclic".into(),
        }
    }

    /// Loads an optional 2-D array (any shape; [`RunInput::checked2`] checks it against
    /// the record). `Ok(None)` when the file is absent and run.json does not list it; an
    /// error when it is listed but missing or unreadable.
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
        match self.read_optional(name)? {
            Some(a) => into_dim(&self.dir.join(name), a).map(Some),
            None => Ok(None),
        }
    }
}

/// `a` with `D` dimensions, or an error naming `path`.
fn into_dim<D: ndarray::Dimension>(
    path: &Path,
    a: ArrayD<f64>,
) -> Result<ndarray::Array<f64, D>, FigureError> {
    let nd = a.ndim();
    a.into_dimensionality::<D>()
        .map_err(|_| FigureError::Shape {
            path: path.to_path_buf(),
            msg: format!(
                "expected {} dimensions, found {nd}",
                D::NDIM.unwrap_or_default()
            ),
        })
}

/// Reads a float32 or float64 `.npy` file as f64 (through the record readers, which
/// check the header's declared size against the file before allocating).
pub fn read_float(path: &Path) -> Result<ArrayD<f64>, FigureError> {
    if !path.exists() {
        return Err(FigureError::MissingArray {
            path: path.to_path_buf(),
        });
    }
    Ok(record::read_npy_f64::<IxDyn>(path)?)
}

fn read_order(path: &Path) -> Result<Array1<i64>, FigureError> {
    if !path.exists() {
        return Err(FigureError::MissingArray {
            path: path.to_path_buf(),
        });
    }
    let a: ArrayD<i64> = record::NpyFile::read(path)?.array_widened::<i32, i64, IxDyn>("i4")?;
    let nd = a.ndim();
    a.into_dimensionality::<Ix1>()
        .map_err(|_| FigureError::Shape {
            path: path.to_path_buf(),
            msg: format!("expected 1 dimension, found {nd}"),
        })
}

/// Reads `run.json` of `dir` as a [`RunInfo`]; fails when it is not valid JSON, has no
/// `config` object or does not have the record's fields, or when the run did not complete.
fn read_info(dir: &Path) -> Result<RunInfo, FigureError> {
    let path = dir.join(RUN_JSON);
    let bytes = std::fs::read(&path).map_err(|e| FigureError::Io {
        path: path.clone(),
        source: e,
    })?;
    let bad = |msg: String| FigureError::Json {
        path: path.clone(),
        msg,
    };
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    if !v.get("config").is_some_and(Value::is_object) {
        return Err(bad("no \"config\" object".into()));
    }
    let info: RunInfo = serde_json::from_value(v).map_err(|e| bad(e.to_string()))?;
    if info.status != RunStatus::Complete {
        return Err(FigureError::NotComplete {
            dir: dir.to_path_buf(),
            status: info.status,
        });
    }
    Ok(info)
}

/// Reads `losses.npy` and `order.npy` of `dir` and checks that they fit each other:
/// one more loss row than episodes, at least one task, every task index in −1..T.
fn read_losses_and_order(dir: &Path) -> Result<(Array2<f64>, Array1<i64>), FigureError> {
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
    Ok((losses, order))
}

/// A config value that is a non-negative integer.
fn config_usize(config: &Value, key: &str) -> Option<usize> {
    config
        .get(key)
        .and_then(Value::as_u64)
        .and_then(|v| usize::try_from(v).ok())
}

/// Checks the loss matrix against run.json: T columns for `config.tasks`, as many
/// episodes as `episodes_done` says, and T·E episodes for a toy run (it has no other
/// kind of episode).
fn check_against_info(
    dir: &Path,
    info: &RunInfo,
    losses: &Array2<f64>,
    episodes: usize,
) -> Result<(), FigureError> {
    let (rows, t) = losses.dim();
    let bad = |msg: String| FigureError::Shape {
        path: dir.join("losses.npy"),
        msg: format!("({rows}, {t}) {msg}"),
    };
    if let Some(want) = config_usize(&info.config, "tasks") {
        if want != t {
            return Err(bad(format!(
                "has {t} task columns, but run.json has config.tasks = {want}"
            )));
        }
    }
    if let Some(done) = info.episodes_done {
        if done != episodes {
            return Err(bad(format!(
                "holds {episodes} episodes (as order.npy), but run.json has episodes_done = {done}"
            )));
        }
    }
    if info.kind == RunKind::Toy {
        if let Some(e) = config_usize(&info.config, "epochs") {
            if t.checked_mul(e) != Some(episodes) {
                return Err(bad(format!(
                    "holds {episodes} episodes (as order.npy), but a toy run of config.tasks × config.epochs = {t} × {e} has {}",
                    t.saturating_mul(e)
                )));
            }
        }
    }
    Ok(())
}

/// Loads a run record directory. Fails (naming the file) when run.json, losses.npy
/// or order.npy is missing or inconsistent (with each other or with run.json's
/// `config.tasks`, `episodes_done` and, for a toy run, `config.epochs`), or the run did
/// not complete.
pub fn load_run(dir: &Path) -> Result<RunInput, FigureError> {
    let info = read_info(dir)?;
    let (losses, order) = read_losses_and_order(dir)?;
    check_against_info(dir, &info, &losses, order.len())?;
    Ok(RunInput {
        dir: dir.to_path_buf(),
        info,
        losses,
        order,
    })
}
