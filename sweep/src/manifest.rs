//! The plan of a sweep, written by [`plan`] into its directory:
//!
//! ```text
//! DIR/sweep.json        the manifest: command, swept keys, every run (index, point, seed,
//!                       swept values, resolved settings, config file, record directory)
//! DIR/spec.toml         the spec as given
//! DIR/configs/NNN.toml  run NNN's settings (`reawaken <command> --config` reads it)
//! DIR/runs/NNN-<label>-seed<S>/   run NNN's record (written by the command)
//! DIR/logs/NNN.log      run NNN's output, every attempt appended
//! DIR/sweep.sbatch      the Slurm batch script of the array (one task per run)
//! ```
//!
//! Paths inside the manifest are relative to DIR, so a sweep directory can be moved or
//! read from another machine.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Result, SweepError};
use crate::spec::{SweepCommand, SweepSpec};

/// The manifest's file name.
pub const MANIFEST: &str = "sweep.json";
/// The manifest's format tag.
pub const FORMAT: &str = "reawaken-sweep/1";

/// One run of a sweep: a point with one seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEntry {
    /// Its index (the Slurm array index; `NNN` in file names).
    pub index: usize,
    /// The index of its point.
    pub point: usize,
    /// The seed.
    pub seed: u64,
    /// The point's label (`steps-5_optimizer-adam`).
    pub label: String,
    /// The swept keys' values.
    pub values: serde_json::Map<String, serde_json::Value>,
    /// The settings the command resolved for this run (defaults filled in).
    pub settings: serde_json::Value,
    /// Its config file, relative to the sweep directory.
    pub config: PathBuf,
    /// Its record directory, relative to the sweep directory.
    pub record: PathBuf,
}

impl RunEntry {
    /// The log file of the run, relative to the sweep directory.
    pub fn log(&self) -> PathBuf {
        PathBuf::from(format!("logs/{:03}.log", self.index))
    }

    /// Where the runner keeps the reason of a run that failed before writing a record,
    /// relative to the sweep directory.
    pub fn failure_note(&self) -> PathBuf {
        PathBuf::from(format!("logs/{:03}.failed", self.index))
    }
}

/// A sweep's manifest (`sweep.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// The command every run is.
    pub command: SweepCommand,
    /// The swept keys, in the spec's order.
    pub swept: Vec<String>,
    /// The seeds.
    pub seeds: Vec<u64>,
    /// The directory the sweep was planned in: every run starts there, locally and on
    /// the cluster, so relative paths in the spec (`docs`, `model`) mean what they meant
    /// when it was planned.
    pub workdir: PathBuf,
    /// Every run, in index order.
    pub runs: Vec<RunEntry>,
}

/// A sweep directory with its manifest.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// The directory.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
}

impl Sweep {
    /// Opens the sweep planned in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST);
        if !path.is_file() {
            return Err(SweepError::Dir {
                path: dir.to_path_buf(),
                problem: format!(
                    "no {MANIFEST} here; plan the sweep first: reawaken sweep plan SPEC.toml --out {}",
                    dir.display()
                ),
            });
        }
        let manifest: Manifest = reawaken_analysis::record::read_json(&path)?;
        if manifest.format != FORMAT {
            return Err(SweepError::Dir {
                path: dir.to_path_buf(),
                problem: format!(
                    "{MANIFEST} has format `{}`, this version reads `{FORMAT}`",
                    manifest.format
                ),
            });
        }
        Ok(Sweep {
            dir: absolute(dir),
            manifest,
        })
    }

    /// The run with array index `index`.
    pub fn entry(&self, index: usize) -> Result<&RunEntry> {
        self.manifest
            .runs
            .get(index)
            .ok_or_else(|| SweepError::Dir {
                path: self.dir.clone(),
                problem: format!(
                    "--index {index} is not a run of this sweep (it has runs 0..={})",
                    self.manifest.runs.len().saturating_sub(1)
                ),
            })
    }

    /// Absolute-or-as-given path of a file of the sweep.
    pub fn path(&self, rel: &Path) -> PathBuf {
        self.dir.join(rel)
    }
}

/// The command's check of one run's settings: the resolved settings (defaults filled in,
/// as `run.json` will hold them), or why they are refused (naming the key).
pub type Validate<'a> =
    dyn Fn(SweepCommand, &toml::Table) -> std::result::Result<serde_json::Value, String> + 'a;

/// Plans `spec` into `dir`: checks every run's settings with `validate` before writing
/// anything, then writes the manifest, the config files, the spec and the Slurm script
/// (which calls `exe`). Planning the same spec into the same directory again is a no-op;
/// a different plan there is refused.
pub fn plan(spec: &SweepSpec, dir: &Path, exe: &Path, validate: &Validate) -> Result<Sweep> {
    let workdir = std::env::current_dir().map_err(|e| SweepError::Dir {
        path: dir.to_path_buf(),
        problem: format!("cannot read the current directory: {e}"),
    })?;
    let manifest = manifest_of(spec, validate, workdir)?;
    let dir_err = |problem: String| SweepError::Dir {
        path: dir.to_path_buf(),
        problem,
    };
    if dir.join(MANIFEST).exists() {
        let old = Sweep::open(dir)?;
        if old.manifest == manifest {
            return Ok(old);
        }
        return Err(dir_err(
            "already holds a different sweep plan (other settings, seeds or runs); plan into another --out, or delete it".into(),
        ));
    }
    if dir.exists() && !dir.is_dir() {
        return Err(dir_err("exists and is not a directory".into()));
    }
    if dir.is_dir()
        && dir
            .read_dir()
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(dir_err(
            "exists and is not empty; a sweep is planned into a new or empty directory".into(),
        ));
    }
    let io = |what: &Path, err: std::io::Error| {
        SweepError::Record(reawaken_analysis::RecordError::Io {
            action: "create",
            path: what.to_path_buf(),
            err,
        })
    };
    for sub in ["configs", "runs", "logs"] {
        let p = dir.join(sub);
        std::fs::create_dir_all(&p).map_err(|e| io(&p, e))?;
    }
    use reawaken_analysis::record::write_atomic;
    for (entry, table) in manifest.runs.iter().zip(spec.run_tables()) {
        let text = toml::to_string(&table).map_err(|e| dir_err(e.to_string()))?;
        let header = format!(
            "# run {} of the sweep in {}: {} seed {}\n",
            entry.index,
            dir.display(),
            entry.label,
            entry.seed
        );
        write_atomic(&dir.join(&entry.config), (header + &text).as_bytes())?;
    }
    write_atomic(&dir.join("spec.toml"), spec.text.as_bytes())?;
    let sweep = Sweep {
        dir: absolute(dir),
        manifest,
    };
    write_atomic(
        &dir.join(crate::slurm::SCRIPT),
        crate::slurm::batch_script(&sweep, exe).as_bytes(),
    )?;
    // The manifest last: a directory with sweep.json is a complete plan.
    reawaken_analysis::record::write_json(dir.join(MANIFEST), &sweep.manifest)?;
    Ok(sweep)
}

/// `dir` made absolute (runs start in the plan's directory, not necessarily this one).
fn absolute(dir: &Path) -> PathBuf {
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// The manifest of `spec`, every run checked by `validate`.
fn manifest_of(spec: &SweepSpec, validate: &Validate, workdir: PathBuf) -> Result<Manifest> {
    let points = spec.points();
    let mut runs = Vec::new();
    for (pi, point) in points.iter().enumerate() {
        for &seed in &spec.seeds {
            let table = spec.settings(point, seed);
            let settings = validate(spec.command, &table).map_err(|problem| SweepError::Point {
                path: spec.path.clone(),
                point: pi,
                values: point.describe(),
                problem,
            })?;
            let index = runs.len();
            let label = point.label();
            let values = point
                .values
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        settings.get(k).cloned().unwrap_or_else(|| to_json(v)),
                    )
                })
                .collect();
            runs.push(RunEntry {
                index,
                point: pi,
                seed,
                config: PathBuf::from(format!("configs/{index:03}.toml")),
                record: PathBuf::from(format!("runs/{index:03}-{label}-seed{seed}")),
                label,
                values,
                settings,
            });
        }
    }
    Ok(Manifest {
        format: FORMAT.into(),
        command: spec.command,
        swept: spec.swept_keys(),
        seeds: spec.seeds.clone(),
        workdir,
        runs,
    })
}

/// A TOML value as JSON.
fn to_json(v: &toml::Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept_all(
        _: SweepCommand,
        t: &toml::Table,
    ) -> std::result::Result<serde_json::Value, String> {
        serde_json::to_value(t).map_err(|e| e.to_string())
    }

    #[test]
    fn plan_writes_one_config_per_run_and_is_idempotent() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("sw");
        let spec = SweepSpec::parse(
            "command = \"toy simulate\"\nseeds = [0, 1]\n[grid]\nsteps = [1, 2, 3]\n",
            Path::new("s.toml"),
        )
        .unwrap();
        let sweep = plan(&spec, &dir, Path::new("/bin/reawaken"), &accept_all).unwrap();
        assert_eq!(sweep.manifest.runs.len(), 6);
        let e = &sweep.manifest.runs[3];
        assert_eq!((e.point, e.seed), (1, 1));
        assert_eq!(e.record, PathBuf::from("runs/003-steps-2-seed1"));
        let cfg: toml::Table =
            toml::from_str(&std::fs::read_to_string(dir.join(&e.config)).unwrap()).unwrap();
        assert_eq!(cfg["steps"].as_integer(), Some(2));
        assert_eq!(cfg["seed"].as_integer(), Some(1));
        let reopened = Sweep::open(&dir).unwrap();
        assert_eq!(reopened.manifest, sweep.manifest);
        // Same plan again: fine. Another plan: refused, nothing changed.
        plan(&spec, &dir, Path::new("/bin/reawaken"), &accept_all).unwrap();
        let other = SweepSpec::parse(
            "command = \"toy simulate\"\nseeds = [0]\n[grid]\nsteps = [1, 2, 3]\n",
            Path::new("s.toml"),
        )
        .unwrap();
        let err = plan(&other, &dir, Path::new("/bin/reawaken"), &accept_all).unwrap_err();
        assert!(err.to_string().contains("different sweep plan"), "{err}");
        assert_eq!(Sweep::open(&dir).unwrap().manifest.runs.len(), 6);
    }

    #[test]
    fn a_refused_point_writes_nothing_and_names_the_point() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("sw");
        let spec = SweepSpec::parse(
            "command = \"toy simulate\"\n[grid]\nsteps = [1, 0, 3]\n",
            Path::new("s.toml"),
        )
        .unwrap();
        let refuse_zero = |_: SweepCommand, t: &toml::Table| {
            if t["steps"].as_integer() == Some(0) {
                Err("`steps` must be at least 1".to_string())
            } else {
                accept_all(SweepCommand::ToySimulate, t)
            }
        };
        let err = plan(&spec, &dir, Path::new("x"), &refuse_zero)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("point 1 (steps = 0)") && err.contains("`steps` must be at least 1"),
            "{err}"
        );
        assert!(!dir.exists());
    }
}
