//! Which figures a set of runs supports: the runs are grouped into conditions by kind,
//! and every figure family draws what the reference condition of each kind (and its
//! twin and sweeps) supports. How runs are combined: docs/figures.md.

use std::path::{Path, PathBuf};

use reawaken_analysis::parallel;
use reawaken_analysis::record::RunKind;

use crate::condition::{differing_keys, Condition};
use crate::figure::{
    heatmaps, online_loss, recovery_score, shift_averaged, sweep, task_loss, toy_ring,
    update_norms, weights_pca, Output, Writes,
};
use crate::input::{load_run, RunInput};
use crate::FigureError;

/// What [`render`] did.
#[derive(Debug, Default, Clone)]
pub struct Rendered {
    /// Files written, in order.
    pub files: Vec<PathBuf>,
    /// Runs that could not be used, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
    /// Figures that the runs could not support, with the reason.
    pub notes: Vec<String>,
}

/// Renders every figure the runs in `dirs` support into `out`.
///
/// A missing run directory is an error; a directory that is not a usable run
/// record is listed in [`Rendered::skipped`] with the reason.
pub fn render(dirs: &[PathBuf], out: &Path) -> Result<Rendered, FigureError> {
    for d in dirs {
        if !d.is_dir() {
            return Err(FigureError::NoRunDir(d.clone()));
        }
    }
    let mut done = Rendered::default();
    let conds = group_runs(dirs, &mut done);
    if conds.is_empty() {
        return Ok(done);
    }
    std::fs::create_dir_all(out).map_err(|e| FigureError::Write {
        path: out.to_path_buf(),
        source: e,
    })?;
    let mut kinds: Vec<RunKind> = Vec::new();
    for c in &conds {
        if !kinds.contains(&c.kind) {
            kinds.push(c.kind);
        }
    }
    let groups: Vec<Vec<&Condition>> = kinds
        .iter()
        .map(|&kind| conds.iter().filter(|c| c.kind == kind).collect())
        .collect();
    let jobs: Vec<Job<'_>> = groups.iter().flat_map(|g| jobs_of_kind(g)).collect();
    let writes = Writes::default();
    let drawn = parallel::map(jobs, |job| {
        let mut drawn = Rendered::default();
        job(&mut Output {
            dir: out,
            done: &mut drawn,
            writes: &writes,
        })
        .map(|()| drawn)
    });
    let written = writes.finish();
    reawaken_analysis::record::sync_dir(out);
    for drawn in drawn {
        let drawn = drawn?;
        done.files.extend(drawn.files);
        done.notes.extend(drawn.notes);
    }
    written?;
    Ok(done)
}

/// Loads the runs (in parallel) and groups them into conditions, in the order given (the
/// first run of a condition is its first). Runs that cannot be used are skipped with the reason.
fn group_runs(dirs: &[PathBuf], done: &mut Rendered) -> Vec<Condition> {
    let mut conds: Vec<Condition> = Vec::new();
    for (d, run) in dirs
        .iter()
        .zip(parallel::map(dirs.iter().collect(), |d| load_run(d)))
    {
        match run {
            Ok(run) => {
                if let Err(reason) = add_run(&mut conds, run) {
                    tracing::debug!("skipped {}: {reason}", d.display());
                    done.skipped.push((d.clone(), reason));
                }
            }
            Err(e) => done.skipped.push((d.clone(), e.to_string())),
        }
    }
    conds
}

/// Adds a run to its condition (a new one when none matches). Refused, with the reason:
/// a seed given twice, or a loss matrix of another shape than the condition's.
fn add_run(conds: &mut Vec<Condition>, run: RunInput) -> Result<(), String> {
    let key = run.condition();
    let Some(c) = conds
        .iter_mut()
        .find(|c| c.kind == run.kind() && c.key == key)
    else {
        conds.push(Condition {
            kind: run.kind(),
            key,
            runs: vec![run],
        });
        return Ok(());
    };
    let f = c.first();
    if let Some(dup) = c.runs.iter().find(|r| r.seed() == run.seed()) {
        return Err(format!(
            "same config and seed as {} (pass each seed once)",
            dup.dir.display()
        ));
    }
    if f.losses.dim() != run.losses.dim() {
        return Err(format!(
            "losses.npy shape {:?} differs from {:?} of {} although the config is the same",
            run.losses.dim(),
            f.losses.dim(),
            f.dir.display()
        ));
    }
    c.runs.push(run);
    Ok(())
}

/// One figure family, drawn into an [`Output`].
type Job<'a> = Box<dyn FnOnce(&mut Output<'_>) -> Result<(), FigureError> + Send + 'a>;

/// Every figure family of one kind of run: the reference condition (`group[0]`), its
/// cyclic-vs-shuffled twin (the first condition differing from it only in `order`) and
/// the sweeps of the other conditions.
fn jobs_of_kind<'a>(group: &'a [&'a Condition]) -> Vec<Job<'a>> {
    let base = group[0];
    let twin = group[1..]
        .iter()
        .copied()
        .find(|c| differing_keys(&base.key, &c.key) == ["order"]);
    let mut jobs: Vec<Job<'a>> = vec![
        Box::new(move |o| task_loss::task1(base, o)),
        Box::new(move |o| task_loss::task1_vs_twin(base, twin, o)),
        Box::new(move |o| shift_averaged::shift_averaged(base, o)),
        Box::new(move |o| online_loss::online_loss(base, twin, o)),
        Box::new(move |o| recovery_score::by_epoch(base, twin, o)),
    ];
    match base.kind {
        RunKind::Toy => jobs.push(Box::new(move |o| toy_ring::toy_ring(base, o))),
        RunKind::Llm => {
            for i in 0..heatmaps::COUNT {
                jobs.push(Box::new(move |o| heatmaps::heatmap(base, i, o)));
            }
            jobs.push(Box::new(move |o| weights_pca::weights_pca(base, o)));
            jobs.push(Box::new(move |o| update_norms::update_norms(base, o)));
        }
    }
    jobs.push(Box::new(move |o| sweep::sweeps(base, twin, &group[1..], o)));
    jobs
}
