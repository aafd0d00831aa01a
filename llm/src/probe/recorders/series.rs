//! A vector recorded after every episode (weights, activations): its rows (exact or
//! sketched) and the exact norm of each episode's change. Shared by the `weights` and
//! `acts` recorders.
//!
//! At a safe point a series does not rewrite its `.npy` arrays (that would write every
//! row again at every safe point, O(episodes²) in all): it appends the rows since the
//! last safe point to its log in the checkpoint directory (`checkpoint/<name>.rows`: per
//! row, its values and then the norm of its change, float32 little-endian; NaN for row
//! 0) and syncs that one file. The `.npy` arrays are written when the run ends or stops.
//! A resume reads the rows back from the log (or, for a record of an older version
//! without logs, from the arrays).

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2};
use reawaken_analysis::record::RunDir;
use tch::Tensor;

use super::sketch::TrajectoryRecorder;
use super::{read_rows, read_vec, storage_kind, to_array2};
use crate::probe::error::{ProbeError, Result};

/// Rows 0..=done of one recorded vector and the norms of its changes.
pub struct Series {
    traj: TrajectoryRecorder,
    rows: Vec<Vec<f32>>,
    change_norm: Vec<f32>,
    /// File of the rows, e.g. `weights.npy`.
    rows_file: &'static str,
    /// File of the change norms, e.g. `weights_update_norm.npy`.
    norm_file: &'static str,
    sketch_dim: usize,
    /// Rows already in the checkpoint log.
    logged: usize,
}

impl Series {
    pub fn new(
        traj: TrajectoryRecorder,
        rows_file: &'static str,
        norm_file: &'static str,
        sketch_dim: usize,
    ) -> Self {
        Series {
            traj,
            rows: Vec::new(),
            change_norm: Vec::new(),
            rows_file,
            norm_file,
            sketch_dim,
            logged: 0,
        }
    }

    /// "exact" or "CountSketch of dimension k".
    pub fn storage(&self) -> String {
        storage_kind(self.traj.sketch.is_some(), self.sketch_dim)
    }

    /// Records the vector made of `parts` as the next row.
    pub fn push(&mut self, parts: &[Tensor]) -> Result<()> {
        let (row, change) = self.traj.record(parts)?;
        self.rows.push(row);
        if let Some(c) = change {
            self.change_norm.push(c);
        } else if self.rows.len() > 1 {
            self.change_norm.push(f32::NAN);
        }
        Ok(())
    }

    /// Reloads rows 0..=done (from the log in `checkpoint`, or from the arrays where
    /// there is no log) and primes the change norm with the current vector.
    pub fn resume(
        &mut self,
        dir: &RunDir,
        checkpoint: &Path,
        done: usize,
        current: &[Tensor],
    ) -> Result<()> {
        let log = self.log_path(checkpoint);
        refuse_link(&log)?;
        if log.exists() {
            self.read_log(&log, done + 1)?;
            self.logged = done + 1;
        } else {
            self.rows = read_rows(dir, self.rows_file, done + 1)?;
            self.change_norm = read_vec(dir, self.norm_file, done)?;
            self.logged = 0;
        }
        self.traj.prime(current);
        Ok(())
    }

    /// At a safe point: appends the rows not yet in the log and syncs it. A log that does
    /// not hold exactly the rows logged so far (rows past a resumed safe point, a log
    /// that is missing) is cut back or written again first.
    pub fn checkpoint(&mut self, checkpoint: &Path) -> Result<()> {
        let path = self.log_path(checkpoint);
        refuse_link(&path)?;
        let io = |e| ProbeError::io(&path, e);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io)?;
        let record = 4 * (self.traj.row_len() as u64 + 1);
        let len = f.metadata().map_err(io)?.len();
        if len < self.logged as u64 * record {
            self.logged = 0;
        }
        f.set_len(self.logged as u64 * record).map_err(io)?;
        f.seek(std::io::SeekFrom::End(0)).map_err(io)?;
        let mut buf = Vec::with_capacity((self.rows.len() - self.logged) * record as usize);
        for i in self.logged..self.rows.len() {
            let norm = if i == 0 {
                f32::NAN
            } else {
                self.change_norm[i - 1]
            };
            for v in self.rows[i].iter().chain(std::iter::once(&norm)) {
                buf.extend_from_slice(&v.to_le_bytes());
            }
        }
        f.write_all(&buf).and_then(|()| f.sync_data()).map_err(io)?;
        self.logged = self.rows.len();
        Ok(())
    }

    /// `checkpoint/<rows file without .npy>.rows`. Only a plain file (see [`refuse_link`]).
    fn log_path(&self, checkpoint: &Path) -> PathBuf {
        let stem = self.rows_file.trim_end_matches(".npy");
        checkpoint.join(format!("{stem}.rows"))
    }

    /// The first `keep` rows of a log, with their change norms.
    fn read_log(&mut self, path: &Path, keep: usize) -> Result<()> {
        let width = self.traj.row_len();
        let record = 4 * (width + 1);
        let mut f = std::fs::File::open(path).map_err(|e| ProbeError::io(path, e))?;
        let mut bytes = Vec::new();
        (&mut f)
            .take((keep * record) as u64)
            .read_to_end(&mut bytes)
            .map_err(|e| ProbeError::io(path, e))?;
        if bytes.len() < keep * record {
            return Err(ProbeError::Resume(format!(
                "cannot resume: {} holds {} rows of {width} values, the safe point needs {keep} (the file was cut or changed; start again with --force)",
                path.display(),
                bytes.len() / record
            )));
        }
        let values: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        self.rows = values
            .chunks_exact(width + 1)
            .map(|r| r[..width].to_vec())
            .collect();
        self.change_norm = values
            .chunks_exact(width + 1)
            .skip(1)
            .map(|r| r[width])
            .collect();
        Ok(())
    }

    /// Writes the rows and the change norms as the record's `.npy` arrays.
    pub fn save(&self, dir: &RunDir) -> Result<()> {
        dir.write_npy(self.rows_file, &self.matrix())?;
        dir.write_npy(self.norm_file, &Array1::from(self.change_norm.clone()))?;
        Ok(())
    }

    /// The rows as a matrix (episodes+1, D).
    pub fn matrix(&self) -> Array2<f32> {
        to_array2(&self.rows, self.traj.row_len())
    }

    /// Number of rows recorded.
    pub fn rows(&self) -> usize {
        self.rows.len()
    }
}

/// A log that is anything but a plain file (a symbolic link, dangling or not; a
/// directory) is refused, so nothing outside the record is read, cut or written.
fn refuse_link(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.is_file() => Err(ProbeError::Resume(format!(
            "cannot use {}: it is not a plain file (a symbolic link or a directory where the record keeps a recorder's log); start again with --force",
            path.display()
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reawaken_analysis::record::OpenMode;

    fn series() -> Series {
        Series::new(
            TrajectoryRecorder::new(3, 10, 8, 0),
            "v.npy",
            "v_norm.npy",
            8,
        )
    }

    fn v(k: f32) -> Tensor {
        Tensor::from_slice(&[k, 0., 0.])
    }

    /// Safe points append to the log; a resume reads its rows back, and the next safe
    /// point cuts off the rows past the resumed one before appending.
    #[test]
    fn the_log_holds_the_rows_and_is_cut_back_to_a_resumed_safe_point() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = RunDir::create(tmp.path().join("rec"), OpenMode::Fresh).unwrap();
        let ck = tmp.path().join("ck");
        std::fs::create_dir(&ck).unwrap();
        let log = ck.join("v.rows");
        let mut s = series();
        s.push(&[v(1.)]).unwrap();
        s.push(&[v(2.)]).unwrap();
        s.checkpoint(&ck).unwrap();
        assert_eq!(std::fs::metadata(&log).unwrap().len(), 2 * 16);
        s.push(&[v(4.)]).unwrap();
        s.checkpoint(&ck).unwrap();
        assert_eq!(std::fs::metadata(&log).unwrap().len(), 3 * 16);

        // Resume at the first safe point (2 rows): the third row is not read ...
        let mut r = series();
        r.resume(&dir, &ck, 1, &[v(2.)]).unwrap();
        assert_eq!(r.rows, vec![vec![1., 0., 0.], vec![2., 0., 0.]]);
        assert_eq!(r.change_norm, vec![1.]);
        // ... and is replaced by the row the resumed run records.
        r.push(&[v(5.)]).unwrap();
        r.checkpoint(&ck).unwrap();
        assert_eq!(std::fs::metadata(&log).unwrap().len(), 3 * 16);
        let mut back = series();
        back.resume(&dir, &ck, 2, &[v(5.)]).unwrap();
        assert_eq!(back.rows[2], vec![5., 0., 0.]);
        assert_eq!(back.change_norm, vec![1., 3.]);

        // A log shorter than the safe point is refused, naming it.
        let e = series().resume(&dir, &ck, 3, &[v(5.)]).unwrap_err();
        assert!(e.to_string().contains("v.rows"), "{e}");

        // A log that is a symbolic link is neither read nor written through.
        let outside = tmp.path().join("outside");
        std::fs::write(&outside, b"keep").unwrap();
        std::fs::remove_file(&log).unwrap();
        std::os::unix::fs::symlink(&outside, &log).unwrap();
        let e = series().resume(&dir, &ck, 0, &[v(5.)]).unwrap_err();
        assert!(e.to_string().contains("not a plain file"), "{e}");
        assert!(r.checkpoint(&ck).is_err());
        assert_eq!(std::fs::read(&outside).unwrap(), b"keep");
    }
}
