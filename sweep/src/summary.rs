//! A sweep's results: one row per run ([`rows`], written as `summary.csv` by
//! [`write_csv`]) and one line per condition, mean ± sd over its seeds ([`conditions`]).
use std::collections::BTreeMap;
use std::path::PathBuf;

use reawaken_analysis::record::{RunInfo, RUN_JSON};

use crate::manifest::Sweep;
use crate::status::entry_state;

/// The summary file's name in the sweep directory.
pub const SUMMARY_CSV: &str = "summary.csv";

/// One run's results.
#[derive(Debug, Clone)]
pub struct Row {
    /// The run's index.
    pub index: usize,
    /// Its point.
    pub point: usize,
    /// Its point's label.
    pub label: String,
    /// The seed.
    pub seed: u64,
    /// `complete`, `pending`, …
    pub status: String,
    /// The swept keys' values, in the manifest's key order (as CSV text).
    pub values: Vec<String>,
    /// RS(n), n = 1..E−1 (None where undefined or not recorded).
    pub recovery_score: Vec<Option<f64>>,
    /// Online loss (mean over epochs 2..E).
    pub online_loss: Option<f64>,
    /// Mean loss after the last episode.
    pub final_loss: Option<f64>,
    /// Seconds the run took.
    pub elapsed_s: Option<f64>,
    /// Its record directory (relative to the sweep directory).
    pub record: PathBuf,
    /// The reason, for a run that failed, diverged or was interrupted.
    pub message: String,
}

/// A value as CSV text (strings without quotes).
fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Every run's row, in index order.
pub fn rows(sweep: &Sweep) -> Vec<Row> {
    sweep
        .manifest
        .runs
        .iter()
        .map(|e| {
            let dir = sweep.path(&e.record);
            let state = entry_state(sweep, e);
            let info: Option<RunInfo> =
                reawaken_analysis::record::read_json(dir.join(RUN_JSON)).ok();
            let metrics = info.as_ref().map(|i| i.metrics.clone()).unwrap_or_default();
            Row {
                index: e.index,
                point: e.point,
                label: e.label.clone(),
                seed: e.seed,
                status: state.name().into(),
                values: sweep
                    .manifest
                    .swept
                    .iter()
                    .map(|k| e.values.get(k).map(plain).unwrap_or_default())
                    .collect(),
                recovery_score: metrics.recovery_score,
                online_loss: metrics.online_loss_mean,
                final_loss: metrics.final_loss_mean,
                elapsed_s: info.as_ref().and_then(|i| i.timings.elapsed_s),
                record: e.record.clone(),
                message: state.reason().unwrap_or("").to_string(),
            }
        })
        .collect()
}

/// Quotes a CSV field when it holds a comma, a quote or a line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A number as CSV text: empty for none (pandas reads it as NaN).
fn num(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite())
        .map(|x| format!("{x}"))
        .unwrap_or_default()
}

/// `summary.csv`: a header and one line per run. Columns: index, point, label, seed,
/// status, every swept key, rs_1 … rs_K, online_loss, final_loss, elapsed_s, record,
/// message.
pub fn csv(sweep: &Sweep, rows: &[Row]) -> String {
    let k = rows
        .iter()
        .map(|r| r.recovery_score.len())
        .max()
        .unwrap_or(0);
    let mut header: Vec<String> = ["index", "point", "label", "seed", "status"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    header.extend(sweep.manifest.swept.iter().cloned());
    header.extend((1..=k).map(|n| format!("rs_{n}")));
    header.extend(
        [
            "online_loss",
            "final_loss",
            "elapsed_s",
            "record",
            "message",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let mut out = header
        .iter()
        .map(|h| csv_field(h))
        .collect::<Vec<_>>()
        .join(",");
    out.push('\n');
    for r in rows {
        let mut f = vec![
            r.index.to_string(),
            r.point.to_string(),
            r.label.clone(),
            r.seed.to_string(),
            r.status.clone(),
        ];
        f.extend(r.values.iter().cloned());
        f.extend((0..k).map(|i| num(r.recovery_score.get(i).copied().flatten())));
        f.push(num(r.online_loss));
        f.push(num(r.final_loss));
        f.push(num(r.elapsed_s));
        f.push(r.record.display().to_string());
        f.push(r.message.clone());
        out.push_str(&f.iter().map(|x| csv_field(x)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

/// Writes `summary.csv` into the sweep directory (atomically); returns its path.
pub fn write_csv(sweep: &Sweep, rows: &[Row]) -> crate::error::Result<PathBuf> {
    let path = sweep.dir.join(SUMMARY_CSV);
    reawaken_analysis::record::write_atomic(&path, csv(sweep, rows).as_bytes())?;
    Ok(path)
}

/// Mean and sample standard deviation (sd 0 for one value); None for no value.
pub fn mean_sd(values: &[f64]) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let sd = if values.len() > 1 {
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    Some((mean, sd))
}

/// Mean, sample standard deviation and the number of values behind them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (0 for one value).
    pub sd: f64,
    /// How many values (seeds) there were.
    pub n: usize,
}

/// One condition (point): its complete seeds' metrics, mean ± sd.
#[derive(Debug, Clone)]
pub struct Condition {
    /// The point's index.
    pub point: usize,
    /// The point's label.
    pub label: String,
    /// Complete runs of it / runs of it.
    pub complete: usize,
    /// Runs of it.
    pub runs: usize,
    /// RS(n) over complete seeds (those where it is defined), n = 1..K.
    pub recovery_score: Vec<Option<Stat>>,
    /// Online loss over complete seeds.
    pub online_loss: Option<Stat>,
}

/// The conditions of `rows` (complete runs only in the statistics).
pub fn conditions(rows: &[Row]) -> Vec<Condition> {
    let mut by_point: BTreeMap<usize, Vec<&Row>> = BTreeMap::new();
    for r in rows {
        by_point.entry(r.point).or_default().push(r);
    }
    by_point
        .into_iter()
        .map(|(point, rs)| {
            let done: Vec<&&Row> = rs.iter().filter(|r| r.status == "complete").collect();
            let k = done
                .iter()
                .map(|r| r.recovery_score.len())
                .max()
                .unwrap_or(0);
            let stat = |f: &dyn Fn(&Row) -> Option<f64>| {
                let v: Vec<f64> = done
                    .iter()
                    .filter_map(|r| f(r))
                    .filter(|x| x.is_finite())
                    .collect();
                mean_sd(&v).map(|(mean, sd)| Stat {
                    mean,
                    sd,
                    n: v.len(),
                })
            };
            Condition {
                point,
                label: rs[0].label.clone(),
                complete: done.len(),
                runs: rs.len(),
                recovery_score: (0..k)
                    .map(|i| stat(&|r: &Row| r.recovery_score.get(i).copied().flatten()))
                    .collect(),
                online_loss: stat(&|r: &Row| r.online_loss),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_sd() {
        let (m, s) = mean_sd(&[1.0, 2.0, 3.0]).unwrap();
        assert!((m - 2.0).abs() < 1e-12 && (s - 1.0).abs() < 1e-12);
        assert_eq!(mean_sd(&[4.0]), Some((4.0, 0.0)));
        assert_eq!(mean_sd(&[]), None);
    }

    #[test]
    fn csv_fields_with_commas_and_quotes_are_quoted() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"x\""), "\"say \"\"x\"\"\"");
        assert_eq!(csv_field("plain"), "plain");
    }
}
