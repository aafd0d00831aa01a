//! The sweep spec: a TOML file naming the command, the seeds, the settings every point
//! shares (`[base]`), the keys crossed in full (`[grid]`) and keys that vary together
//! (`[[zip]]` tables), all with the command's own settings keys:
//!
//! ```toml
//! command = "llm probe"          # or "toy simulate"
//! seeds = [0, 1, 2]
//! [base]
//! tasks = 25
//! [grid]
//! steps = [1, 5, 10, 20]
//! optimizer = ["sgd", "adam"]
//! [[zip]]
//! width = [256, 512, 1024]
//! heads = [4, 8, 16]
//! ```
//!
//! [`SweepSpec::points`] expands it: the grid's cross product (first key slowest) crossed
//! with the rows of every zip table. Whether a point's settings are valid is the
//! command's business; [`crate::plan`] asks it for every point before anything runs.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Result, SweepError};

/// Most runs (points × seeds) one sweep may hold (also a Slurm array's usual limit).
pub const MAX_RUNS: usize = 10_000;

/// The command a sweep runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SweepCommand {
    /// `reawaken toy simulate`
    #[serde(rename = "toy simulate")]
    ToySimulate,
    /// `reawaken llm probe`
    #[serde(rename = "llm probe")]
    LlmProbe,
}

impl SweepCommand {
    /// The subcommand words (`["toy", "simulate"]`).
    pub fn words(self) -> [&'static str; 2] {
        match self {
            SweepCommand::ToySimulate => ["toy", "simulate"],
            SweepCommand::LlmProbe => ["llm", "probe"],
        }
    }

    /// Whether an interrupted run continues with `--resume` (the probe) or starts over
    /// with `--force` (the toy model: a run takes a fraction of a second and is
    /// deterministic, so starting over gives the same numbers).
    pub fn resumes(self) -> bool {
        self == SweepCommand::LlmProbe
    }
}

impl std::fmt::Display for SweepCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b] = self.words();
        write!(f, "{a} {b}")
    }
}

/// The spec file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    command: String,
    #[serde(default)]
    seeds: Option<Vec<u64>>,
    #[serde(default)]
    base: toml::Table,
    #[serde(default)]
    grid: toml::Table,
    #[serde(default)]
    zip: Vec<toml::Table>,
}

/// A parsed and checked sweep spec.
#[derive(Debug, Clone)]
pub struct SweepSpec {
    /// Where it was read from (for messages).
    pub path: PathBuf,
    /// Its text (copied into the sweep directory).
    pub text: String,
    /// The command.
    pub command: SweepCommand,
    /// The seeds every point runs with (default `[0]`).
    pub seeds: Vec<u64>,
    /// Settings shared by every point.
    pub base: toml::Table,
    /// Keys crossed in full, in the spec's order, each with its values.
    pub grid: Vec<(String, Vec<toml::Value>)>,
    /// Groups of keys that vary together: each group's keys and its rows.
    pub zips: Vec<(Vec<String>, Vec<Vec<toml::Value>>)>,
}

/// One point of a sweep: the swept keys' values (in the spec's order).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// `(key, value)` for every swept key.
    pub values: Vec<(String, toml::Value)>,
}

impl Point {
    /// `steps = 5, optimizer = "adam"` (or `base settings` for a sweep of seeds only).
    pub fn describe(&self) -> String {
        if self.values.is_empty() {
            return "base settings".into();
        }
        self.values
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A file-name-safe label: `steps-5_optimizer-adam` (`base` for no swept key).
    pub fn label(&self) -> String {
        if self.values.is_empty() {
            return "base".into();
        }
        let raw = self
            .values
            .iter()
            .map(|(k, v)| format!("{k}-{}", plain_value(v)))
            .collect::<Vec<_>>()
            .join("_");
        let safe: String = raw
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        safe.chars().take(80).collect()
    }
}

/// A value as a label part: strings without quotes, everything else as TOML writes it.
fn plain_value(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl SweepSpec {
    /// The settings table of every run (every point with every seed), in index order.
    pub fn run_tables(&self) -> Vec<toml::Table> {
        let points = self.points();
        points
            .iter()
            .flat_map(|p| self.seeds.iter().map(move |&s| self.settings(p, s)))
            .collect()
    }

    /// Reads and checks the spec at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = reawaken_analysis::settings::read_config_text(path)?;
        Self::parse(&text, path)
    }

    /// Parses and checks spec `text` (read from `path`, used in messages).
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let raw: RawSpec = reawaken_analysis::settings::parse_toml(text, path)?;
        let bad = |problem: String| SweepError::Spec {
            path: path.to_path_buf(),
            problem,
        };
        let command = match raw.command.as_str() {
            "toy simulate" => SweepCommand::ToySimulate,
            "llm probe" => SweepCommand::LlmProbe,
            other => {
                return Err(bad(format!(
                    "`command = \"{other}\"` is not a command a sweep runs (\"toy simulate\" or \"llm probe\")"
                )))
            }
        };
        let seeds = raw.seeds.unwrap_or_else(|| vec![0]);
        if seeds.is_empty() {
            return Err(bad("`seeds` is empty; give at least one seed".into()));
        }
        if seeds.iter().collect::<BTreeSet<_>>().len() != seeds.len() {
            return Err(bad(format!("`seeds` lists a seed twice: {seeds:?}")));
        }
        let mut seen = BTreeSet::new();
        let mut claim = |key: &str, table: &str| -> Result<()> {
            if key == "seed" {
                return Err(bad(format!(
                    "`seed` in [{table}]: the seeds of a sweep are its top-level `seeds = [...]` list"
                )));
            }
            if !seen.insert(key.to_string()) {
                return Err(bad(format!(
                    "`{key}` is given twice (in [base], [grid] or a [[zip]] table); give each key once"
                )));
            }
            Ok(())
        };
        for key in raw.base.keys() {
            claim(key, "base")?;
        }
        let mut grid = Vec::new();
        for (key, value) in &raw.grid {
            claim(key, "grid")?;
            grid.push((key.clone(), list(value, key, "grid", true).map_err(&bad)?));
        }
        let mut zips = Vec::new();
        for (i, table) in raw.zip.iter().enumerate() {
            let name = format!("zip #{}", i + 1);
            if table.is_empty() {
                return Err(bad(format!("[[zip]] table {} is empty", i + 1)));
            }
            let mut keys = Vec::new();
            let mut columns = Vec::new();
            for (key, value) in table {
                claim(key, &name)?;
                keys.push(key.clone());
                columns.push(list(value, key, &name, false).map_err(&bad)?);
            }
            let len = columns[0].len();
            if let Some((k, c)) = keys.iter().zip(&columns).find(|(_, c)| c.len() != len) {
                return Err(bad(format!(
                    "in [[zip]] table {}, `{}` has {len} values but `{k}` has {}: keys that vary together need lists of one length",
                    i + 1,
                    keys[0],
                    c.len()
                )));
            }
            let rows: Vec<Vec<toml::Value>> = (0..len)
                .map(|r| columns.iter().map(|c| c[r].clone()).collect())
                .collect();
            if let Some(r) = (1..len).find(|&r| rows[..r].contains(&rows[r])) {
                return Err(bad(format!(
                    "[[zip]] table {} repeats row {} (the same values as an earlier row)",
                    i + 1,
                    r + 1
                )));
            }
            zips.push((keys, rows));
        }
        let spec = SweepSpec {
            path: path.to_path_buf(),
            text: text.to_string(),
            command,
            seeds,
            base: raw.base,
            grid,
            zips,
        };
        let runs = spec.point_count().saturating_mul(spec.seeds.len());
        if runs > MAX_RUNS {
            return Err(bad(format!(
                "{runs} runs (points x seeds) is more than {MAX_RUNS}; split the sweep"
            )));
        }
        Ok(spec)
    }

    /// The number of points (product of the grid's and the zip tables' lengths).
    pub fn point_count(&self) -> usize {
        self.grid
            .iter()
            .map(|(_, v)| v.len())
            .chain(self.zips.iter().map(|(_, rows)| rows.len()))
            .fold(1usize, |a, n| a.saturating_mul(n))
    }

    /// The swept keys, in the spec's order (grid keys, then zip keys).
    pub fn swept_keys(&self) -> Vec<String> {
        self.grid
            .iter()
            .map(|(k, _)| k.clone())
            .chain(self.zips.iter().flat_map(|(keys, _)| keys.iter().cloned()))
            .collect()
    }

    /// Every point: the grid's cross product (first key slowest), crossed with each zip
    /// table's rows.
    pub fn points(&self) -> Vec<Point> {
        let mut points = vec![Point { values: Vec::new() }];
        let axes = self
            .grid
            .iter()
            .map(|(k, vals)| {
                let rows: Vec<Vec<(String, toml::Value)>> =
                    vals.iter().map(|v| vec![(k.clone(), v.clone())]).collect();
                rows
            })
            .chain(self.zips.iter().map(|(keys, rows)| {
                rows.iter()
                    .map(|row| keys.iter().cloned().zip(row.iter().cloned()).collect())
                    .collect()
            }));
        for axis in axes {
            points = points
                .into_iter()
                .flat_map(|p| {
                    axis.iter().map(move |row| {
                        let mut values = p.values.clone();
                        values.extend(row.iter().cloned());
                        Point { values }
                    })
                })
                .collect();
        }
        points
    }

    /// The settings of one run: `[base]`, the point's values and the seed.
    pub fn settings(&self, point: &Point, seed: u64) -> toml::Table {
        let mut table = self.base.clone();
        for (k, v) in &point.values {
            table.insert(k.clone(), v.clone());
        }
        table.insert("seed".into(), toml::Value::Integer(seed as i64));
        table
    }
}

/// The values of a swept key: a non-empty list without repeats.
fn list(
    value: &toml::Value,
    key: &str,
    table: &str,
    unique: bool,
) -> std::result::Result<Vec<toml::Value>, String> {
    let toml::Value::Array(items) = value else {
        return Err(format!(
            "`{key}` in [{table}] must be a list of values (`{key} = [..]`), got `{value}`"
        ));
    };
    if items.is_empty() {
        return Err(format!("`{key}` in [{table}] is an empty list"));
    }
    for (i, a) in items.iter().enumerate().filter(|_| unique) {
        if items[..i].contains(a) {
            return Err(format!("`{key}` in [{table}] lists {a} twice"));
        }
    }
    Ok(items.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SweepSpec> {
        SweepSpec::parse(text, Path::new("s.toml"))
    }

    #[test]
    fn grid_and_zip_expand_to_their_cross_product_in_order() {
        let spec = parse(
            "command = \"llm probe\"\nseeds = [0, 1]\n[base]\ntasks = 5\n[grid]\noptimizer = [\"sgd\", \"adam\"]\nsteps = [1, 5]\n[[zip]]\nheads = [2, 4, 8]\nwidth = [64, 128, 256]\n",
        )
        .unwrap();
        let points = spec.points();
        assert_eq!(points.len(), 2 * 2 * 3);
        assert_eq!(spec.point_count(), 12);
        // the first key varies slowest.
        assert_eq!(
            points[0].describe(),
            "optimizer = \"sgd\", steps = 1, heads = 2, width = 64"
        );
        assert_eq!(points[1].label(), "optimizer-sgd_steps-1_heads-4_width-128");
        assert_eq!(
            points[11].label(),
            "optimizer-adam_steps-5_heads-8_width-256"
        );
        let all: BTreeSet<String> = points.iter().map(Point::label).collect();
        assert_eq!(all.len(), 12, "every point is distinct");
        let s = spec.settings(&points[3], 1);
        assert_eq!(s["tasks"].as_integer(), Some(5));
        assert_eq!(s["seed"].as_integer(), Some(1));
        assert_eq!(s["steps"].as_integer(), Some(5));
    }

    #[test]
    fn zip_columns_may_repeat_a_value_but_not_a_row() {
        let spec =
            parse("command = \"llm probe\"\n[[zip]]\ndepth = [4, 4, 1]\nwidth = [64, 128, 256]\n")
                .unwrap();
        assert_eq!(spec.points().len(), 3);
    }

    #[test]
    fn a_sweep_of_seeds_only_has_one_point() {
        let spec = parse("command = \"toy simulate\"\nseeds = [3, 4, 5]\n").unwrap();
        assert_eq!(spec.points().len(), 1);
        assert_eq!(spec.points()[0].label(), "base");
        assert_eq!(spec.seeds, vec![3, 4, 5]);
        let spec = parse("command = \"toy simulate\"\n").unwrap();
        assert_eq!(spec.seeds, vec![0]);
    }

    #[test]
    fn malformed_specs_are_refused_naming_the_key() {
        let cases = [
            ("command = \"toy run\"\n", "not a command"),
            ("command = \"toy simulate\"\nseeds = []\n", "empty"),
            ("command = \"toy simulate\"\nseeds = [1, 1]\n", "twice"),
            ("command = \"toy simulate\"\n[grid]\nsteps = 5\n", "`steps` in [grid] must be a list"),
            ("command = \"toy simulate\"\n[grid]\nsteps = []\n", "empty list"),
            ("command = \"toy simulate\"\n[grid]\nsteps = [1, 1]\n", "twice"),
            ("command = \"toy simulate\"\n[base]\nseed = 1\n", "`seed` in [base]"),
            ("command = \"toy simulate\"\n[base]\nsteps = 1\n[grid]\nsteps = [2]\n", "`steps` is given twice"),
            ("command = \"toy simulate\"\n[[zip]]\ninput-dim = [1, 2]\nembed-dim = [1]\n", "lists of one length"),
            ("command = \"toy simulate\"\n[[zip]]\ninput-dim = [1, 2, 1]\nembed-dim = [3, 4, 3]\n", "repeats row 3"),
            ("command = \"toy simulate\"\ngird = 1\n", "unknown field `gird`"),
            ("command = \"toy simulate\"\n[grid]\ntasks = [1,2,3,4,5,6,7,8,9,10]\nsteps = [1,2,3,4,5,6,7,8,9,10]\nlr = [1,2,3,4,5,6,7,8,9,10]\nepochs = [1,2,3,4,5,6,7,8,9,10,11]\n", "more than 10000"),
        ];
        for (text, want) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
            assert!(err.contains("s.toml"), "{err}");
        }
    }
}
