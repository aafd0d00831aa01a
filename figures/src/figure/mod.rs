//! The figure families, one module each, and what they share: [`Output`] (where figures
//! go and what became of them) and [`mean_sd`] (averaging over seeds).
//!
//! Every family takes the reference [`Condition`] of a kind (and, where it has one, its
//! cyclic-vs-shuffled twin) and writes its figures, or a note saying why it could not.

pub(crate) mod heatmaps;
pub(crate) mod online_loss;
pub(crate) mod recovery_score;
pub(crate) mod shift_averaged;
pub(crate) mod sweep;
pub(crate) mod task_loss;
pub(crate) mod toy_ring;
pub(crate) mod update_norms;
pub(crate) mod weights_pca;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use reawaken_analysis::record::{write_atomic_leaving_dir_sync, RecordError};

use crate::condition::Condition;
use crate::input::{Extent, RunInput};
use crate::plot::axis::robust_mean_sd;
use crate::render::Rendered;
use crate::FigureError;

/// The output directory and the account of what was written, skipped and not drawn.
pub(crate) struct Output<'a> {
    pub dir: &'a Path,
    pub done: &'a mut Rendered,
    pub writes: &'a Writes,
}

/// Figure files being written, each on its own thread: while one waits for the disk
/// (its fsync), the next figure is drawn, and the fsyncs that wait together share the
/// disk's cache flushes. [`Writes::finish`] waits for them all.
#[derive(Default)]
pub(crate) struct Writes(Mutex<Vec<JoinHandle<Result<(), RecordError>>>>);

impl Writes {
    /// Writes `svg` to `path` atomically (temporary file, fsync, rename), on a thread of
    /// its own, or on this one when no thread can be started.
    fn start(&self, path: PathBuf, svg: String) -> Result<(), FigureError> {
        let svg = Arc::new(svg);
        let (p, s) = (path.clone(), Arc::clone(&svg));
        match std::thread::Builder::new()
            .name("figure-write".into())
            .spawn(move || write_atomic_leaving_dir_sync(&p, s.as_bytes()))
        {
            Ok(handle) => {
                self.0
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(handle);
                Ok(())
            }
            Err(_) => Ok(write_atomic_leaving_dir_sync(&path, svg.as_bytes())?),
        }
    }

    /// Waits for every write; the first failure, in the order the writes started.
    pub fn finish(self) -> Result<(), FigureError> {
        let handles = self
            .0
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut first = Ok(());
        for h in handles {
            let written = h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            if first.is_ok() {
                first = written.map_err(FigureError::from);
            }
        }
        first
    }
}

impl Output<'_> {
    /// Writes a figure, or turns a drawing failure (e.g. nothing finite to draw, values
    /// no axis can span) into a note so that one bad figure does not stop the others.
    pub fn emit(
        &mut self,
        name: &str,
        svg: Result<String, FigureError>,
    ) -> Result<(), FigureError> {
        match svg {
            Ok(svg) => self.write_svg(name, svg),
            Err(
                e
                @ (FigureError::Empty(_) | FigureError::Unplottable { .. } | FigureError::Draw(_)),
            ) => {
                self.note(format!("{name} not drawn: {e}"));
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Starts writing `svg` atomically (temporary file, fsync, rename: a crash never
    /// leaves half a figure; [`Writes`]) and lists it.
    fn write_svg(&mut self, name: &str, svg: String) -> Result<(), FigureError> {
        let path = self.dir.join(name);
        // The directory is synced once, after the last figure (`render`).
        self.writes.start(path.clone(), svg)?;
        tracing::debug!("writing {}", path.display());
        self.done.files.push(path);
        Ok(())
    }

    /// Records a figure that the runs could not support, with the reason.
    pub fn note(&mut self, note: String) {
        self.done.notes.push(note);
    }
}

/// Mean and sample sd (ddof 1) over equally long rows, NaN-aware (non-finite values are
/// left out; finite values near ±f64::MAX do not overflow the mean); sd is None for one
/// row.
pub(crate) fn mean_sd(rows: &[Vec<f64>]) -> (Vec<f64>, Option<Vec<f64>>) {
    let len = rows.iter().map(Vec::len).min().unwrap_or(0);
    let mut mean = vec![f64::NAN; len];
    let mut sd = vec![0.0; len];
    for i in 0..len {
        let v: Vec<f64> = rows
            .iter()
            .map(|r| r[i])
            .filter(|x| x.is_finite())
            .collect();
        let Some((m, d)) = robust_mean_sd(&v) else {
            continue;
        };
        mean[i] = m;
        if let Some(d) = d {
            sd[i] = d;
        }
    }
    (mean, (rows.len() > 1).then_some(sd))
}

/// What [`first_with`] found in the runs of a condition.
pub(crate) enum Found<T> {
    /// From the first run whose array could be used.
    Yes(T),
    /// Some run has the array but none could be used; each said why in a note.
    Unusable,
    /// No run has it.
    Absent,
}

/// The first run of `base` (in the order given) whose 2-D array `name` has the shape
/// `want` ([`RunInput::check_shape`]), with its seed; unreadable or misshapen arrays
/// become notes (after `"{figure}: "`).
pub(crate) fn first_array2(
    base: &Condition,
    name: &str,
    want: [Extent; 2],
    figure: &str,
    out: &mut Output<'_>,
) -> Found<(u64, ndarray::Array2<f64>)> {
    first_with(base, out, figure, |r| {
        Ok(r.checked2(name, want)?.map(|a| (r.seed(), a)))
    })
}

/// Like [`first_array2`] for 1-D arrays (without the seed).
pub(crate) fn first_array1(
    base: &Condition,
    name: &str,
    want: Extent,
    figure: &str,
    out: &mut Output<'_>,
) -> Found<ndarray::Array1<f64>> {
    first_with(base, out, figure, |r| r.checked1(name, want))
}

/// The first `Some` that `read` gives for the runs of `base`, in order. A run whose read
/// fails (missing, unreadable, a shape that does not fit the record) adds a note: the
/// error after `"{figure}: "`.
pub(crate) fn first_with<'r, T>(
    base: &'r Condition,
    out: &mut Output<'_>,
    figure: &str,
    read: impl Fn(&'r RunInput) -> Result<Option<T>, FigureError>,
) -> Found<T> {
    let mut failed = false;
    for r in &base.runs {
        match read(r) {
            Ok(Some(a)) => return Found::Yes(a),
            Ok(None) => {}
            Err(e) => {
                failed = true;
                out.note(format!("{figure}: {e}"));
            }
        }
    }
    if failed {
        Found::Unusable
    } else {
        Found::Absent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_sd_is_nan_aware_with_sample_sd() {
        let (m, sd) = mean_sd(&[vec![1.0, f64::NAN], vec![3.0, 2.0]]);
        assert_eq!(m, vec![2.0, 2.0]);
        let sd = sd.unwrap();
        assert!((sd[0] - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(sd[1], 0.0);
        let (_, sd) = mean_sd(&[vec![1.0]]);
        assert!(sd.is_none());
    }

    #[test]
    fn mean_sd_of_values_near_the_f64_limit_does_not_overflow() {
        let (m, sd) = mean_sd(&[vec![1e308, -1e308, f64::MAX], vec![1e308, 1e308, f64::MAX]]);
        assert_eq!(m, vec![1e308, 0.0, f64::MAX]);
        let sd = sd.unwrap();
        assert_eq!(sd[0], 0.0);
        assert!((sd[1] - 2f64.sqrt() * 1e308).abs() < 1e294, "{}", sd[1]);
        assert_eq!(sd[2], 0.0);
    }
}
