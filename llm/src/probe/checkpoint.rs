//! Safe points and `--resume`.
//!
//! After every `checkpoint-every` episodes (and when stopping) the record is brought to a
//! consistent state: first the parameters go to `checkpoint/params-<s>.safetensors`, then
//! `losses.npy` and `order.npy` (rows 0..=s) are rewritten atomically and each recorder
//! series appends its new rows to its log `checkpoint/<name>.rows` and syncs it, then
//! `checkpoint/state.json` says "s episodes done, parameters in that file", then older
//! parameter files are deleted. A crash at any moment leaves `state.json` pointing at a
//! complete parameter file; arrays and logs may hold a few rows more than `state.json`
//! says and are cut back on resume. The recorders' `.npy` arrays are written when the
//! run ends or stops. Optimizer state needs no saving (SGD has none; Adam is reset at every
//! document, and safe points are between documents), nor does RNG state (every episode's
//! randomness is seeded by `(seed, episode)`, the schedule is drawn up front). So a
//! resumed run computes exactly what the uninterrupted one would have (bit-for-bit on CPU).
//!
//! A resume trusts nothing it reads: `checkpoint/` must be a real directory of the record
//! (not a symbolic link), the parameter file a plain `params-<s>.safetensors` of the same
//! s, and the parameter file and the loss rows 0..=s must hash to what `state.json`
//! recorded at the safe point (and hold finite losses); anything else is refused with a
//! message saying which file does not fit.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ndarray::Array1;
use reawaken_analysis::record::{self, RunDir};
use serde::{Deserialize, Serialize};

use crate::probe::error::{ProbeError, Result};
use crate::probe::recorders::{read_rows, read_vec, to_array2, Recorder};
use crate::probe::trainer::{CausalLm, Trainer};

const CHECKPOINT_DIR: &str = "checkpoint";

/// Automatic safe points (`--checkpoint-every 0`) come once the time since the last one is
/// this many times what the last one took: they cost at most 1/50 = 2 % of the run.
const AUTO_COST_FACTOR: u32 = 50;

/// ... and at the latest this long after the last one (unless one takes longer than
/// 1/50 of it): what a crash can cost.
const AUTO_MAX_INTERVAL: Duration = Duration::from_secs(600);

/// When the episode loop takes a safe point (docs/llm-probe.md, "Safe points"): every k
/// episodes (`--checkpoint-every k`), or, automatically, by the cost of the last one. The
/// numbers do not depend on where the safe points fall: a resume from any of them computes
/// what the uninterrupted run would.
#[derive(Debug)]
pub struct SafePoints {
    every: Option<usize>,
    last: Instant,
    cost: Duration,
}

impl SafePoints {
    /// `checkpoint_every` as configured (0: automatic).
    pub fn new(checkpoint_every: usize) -> SafePoints {
        SafePoints {
            every: (checkpoint_every > 0).then_some(checkpoint_every),
            last: Instant::now(),
            cost: Duration::ZERO,
        }
    }

    /// Whether a safe point is due after `episodes` episodes of this session.
    pub fn due(&self, episodes: usize) -> bool {
        match self.every {
            Some(k) => episodes.is_multiple_of(k),
            None => self.last.elapsed() >= (self.cost * AUTO_COST_FACTOR).min(AUTO_MAX_INTERVAL),
        }
    }

    /// Runs `save` (a safe point) and keeps what it cost for [`SafePoints::due`].
    pub fn take<T>(&mut self, save: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let out = save();
        self.cost = t.elapsed();
        self.last = Instant::now();
        out
    }
}

/// Persistent state of the latest safe point (`checkpoint/state.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointState {
    pub episodes_done: usize,
    pub params_file: String,
    /// [`content_hash`] of the parameter file, as 16 hex digits.
    #[serde(default)]
    pub params_hash: Option<String>,
    /// [`content_hash`] of the loss rows 0..=s and the order 0..s.
    #[serde(default)]
    pub losses_hash: Option<String>,
    /// Each recorder's own state, by recorder name.
    #[serde(default)]
    pub recorders: BTreeMap<String, serde_json::Value>,
}

/// The loss matrix and the order so far: rows 0..=done, entries 0..done.
pub struct LossRecord {
    pub tasks: usize,
    pub losses: Vec<Vec<f32>>,
    pub order: Vec<i64>,
}

impl LossRecord {
    /// Episodes done.
    pub fn done(&self) -> usize {
        self.losses.len().saturating_sub(1)
    }

    /// The loss matrix (episodes+1, T).
    pub fn matrix(&self) -> ndarray::Array2<f32> {
        to_array2(&self.losses, self.tasks)
    }

    /// Appends the losses after an episode and the task it trained (`order.npy` value).
    pub fn push(&mut self, row: Vec<f32>, task: i64) {
        self.losses.push(row);
        self.order.push(task);
    }

    /// Writes `losses.npy` and `order.npy`.
    pub fn save(&self, dir: &RunDir) -> Result<()> {
        dir.write_npy("losses.npy", &self.matrix())?;
        dir.write_npy("order.npy", &Array1::from(self.order.clone()))?;
        Ok(())
    }

    /// Rows 0..=done of an interrupted record.
    pub fn resume(dir: &RunDir, tasks: usize, done: usize) -> Result<Self> {
        Ok(LossRecord {
            tasks,
            losses: read_rows(dir, "losses.npy", done + 1)?,
            order: read_vec(dir, "order.npy", done)?,
        })
    }
}

/// A 64-bit hash of bytes (word-wise multiply–xor; detects corruption and edits, not
/// adversaries), as 16 hex digits.
pub fn content_hash(
    chunks: &mut dyn Iterator<Item = std::io::Result<Vec<u8>>>,
) -> std::io::Result<String> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut len: u64 = 0;
    for chunk in chunks {
        let chunk = chunk?;
        len += chunk.len() as u64;
        let mut words = chunk.chunks_exact(8);
        for w in &mut words {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            h = (h ^ u64::from_le_bytes(b))
                .wrapping_mul(0x0000_0100_0000_01b3)
                .rotate_left(29);
        }
        for &b in words.remainder() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h ^= len;
    h = (h ^ (h >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    Ok(format!("{:016x}", h ^ (h >> 33)))
}

/// [`content_hash`] of a file, read in chunks of 8 MiB.
fn file_hash(path: &std::path::Path) -> Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| ProbeError::io(path, e))?;
    let mut chunks = std::iter::from_fn(|| {
        let mut buf = vec![0u8; 8 << 20];
        match f.read(&mut buf) {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some(Ok(buf))
            }
            Err(e) => Some(Err(e)),
        }
    });
    content_hash(&mut chunks).map_err(|e| ProbeError::io(path, e))
}

/// [`content_hash`] of a loss record's rows and order.
fn losses_hash(losses: &LossRecord) -> String {
    let rows = losses
        .losses
        .iter()
        .map(|r| Ok(r.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()));
    let order = std::iter::once(Ok(losses
        .order
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect::<Vec<u8>>()));
    content_hash(&mut rows.chain(order)).unwrap_or_default()
}

/// The state of the latest safe point, if there is one. `checkpoint/` must be a real
/// directory and its parameter file a plain `params-<s>.safetensors` of the same s.
pub fn load(dir: &RunDir) -> Result<Option<CheckpointState>> {
    let Some(ck) = dir.existing_subdir(CHECKPOINT_DIR)? else {
        return Ok(None);
    };
    let path = ck.join("state.json");
    if !path.exists() {
        return Ok(None);
    }
    let state: CheckpointState = record::read_json(&path)?;
    let expected = format!("params-{}.safetensors", state.episodes_done);
    if state.params_file != expected {
        return Err(ProbeError::Resume(format!(
            "cannot resume: {} names the parameter file {:?}, expected {expected:?} (the checkpoint was changed; start again with --force)",
            path.display(),
            state.params_file
        )));
    }
    Ok(Some(state))
}

/// Loads the parameters of a safe point into the trainer, after checking the file is the
/// one the safe point wrote.
pub fn restore_params<M: CausalLm>(
    dir: &RunDir,
    state: &CheckpointState,
    trainer: &Trainer<'_, M>,
) -> Result<()> {
    let ck = dir.subdir(CHECKPOINT_DIR)?;
    let path = ck.join(&state.params_file);
    let regular = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
    if !regular {
        return Err(ProbeError::Resume(format!(
            "cannot resume: {} is missing or not a regular file",
            path.display()
        )));
    }
    if let Some(want) = &state.params_hash {
        if &file_hash(&path)? != want {
            return Err(ProbeError::Resume(format!(
                "cannot resume: {} does not hold the parameters of the safe point (its content changed); start again with --force",
                path.display()
            )));
        }
    }
    trainer.load_params(&path)
}

/// Checks the loss rows of a resume against the safe point: finite, and hashing to what
/// `state.json` recorded.
pub fn check_losses(dir: &RunDir, state: &CheckpointState, losses: &LossRecord) -> Result<()> {
    let file = dir.file("losses.npy");
    if let Some((i, _)) = losses
        .losses
        .iter()
        .enumerate()
        .find(|(_, r)| r.iter().any(|v| !v.is_finite()))
    {
        return Err(ProbeError::Resume(format!(
            "cannot resume: {} row {i} holds a non-finite loss, which the safe point after episode {} never wrote (the file was changed); start again with --force",
            file.display(),
            state.episodes_done
        )));
    }
    if let Some(want) = &state.losses_hash {
        if &losses_hash(losses) != want {
            return Err(ProbeError::Resume(format!(
                "cannot resume: {} or order.npy differ from what the safe point after episode {} wrote; start again with --force",
                file.display(),
                state.episodes_done
            )));
        }
    }
    Ok(())
}

/// Deletes the checkpoint (the run is over, or starts afresh). A symbolic link in its
/// place is refused, so nothing outside the record is deleted.
pub fn remove(dir: &RunDir) -> Result<()> {
    if let Some(p) = dir.existing_subdir(CHECKPOINT_DIR)? {
        std::fs::remove_dir_all(&p).map_err(|e| ProbeError::io(&p, e))?;
    }
    Ok(())
}

/// The checkpoint directory of a record, where the recorders keep their logs.
pub fn dir(record: &RunDir) -> std::path::PathBuf {
    record.path().join(CHECKPOINT_DIR)
}

/// Makes a safe point (see the module docs for the order of writes).
pub fn save<M: CausalLm>(
    dir: &RunDir,
    trainer: &Trainer<'_, M>,
    losses: &LossRecord,
    recorders: &mut [Box<dyn Recorder<M>>],
) -> Result<()> {
    let ck = dir.subdir(CHECKPOINT_DIR)?;
    let s = losses.done();
    let params_file = format!("params-{s}.safetensors");
    let target = ck.join(&params_file);
    let tmp = record::temp_path(&target);
    if let Err(e) = trainer.save_params(&tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    record::publish(&tmp, &target)?;
    losses.save(dir)?;
    for r in recorders.iter_mut() {
        r.checkpoint(&ck)?;
    }
    let state = CheckpointState {
        episodes_done: s,
        params_file: params_file.clone(),
        params_hash: Some(file_hash(&target)?),
        losses_hash: Some(losses_hash(losses)),
        recorders: recorders
            .iter()
            .filter_map(|r| r.state().map(|v| (r.name().to_string(), v)))
            .collect(),
    };
    record::write_json(ck.join("state.json"), &state)?;
    if let Ok(entries) = std::fs::read_dir(&ck) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with("params-") && name != params_file {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_points_come_every_k_episodes_or_by_their_cost() {
        let every = SafePoints::new(3);
        assert!(every.due(3) && every.due(6) && !every.due(4));

        let mut auto = SafePoints::new(0);
        assert!(
            auto.due(1),
            "no cost known yet: the first one is due at once"
        );
        auto.take(|| ());
        auto.cost = Duration::from_millis(10);
        auto.last = Instant::now();
        assert!(!auto.due(1), "50 x 10 ms have not passed");
        // `Instant`s in the past (checked: the clock starts at boot).
        let ago = |d: Duration| Instant::now().checked_sub(d);
        if let Some(t) = ago(Duration::from_millis(600)) {
            auto.last = t;
            assert!(auto.due(2), "more than 50 x 10 ms since the last");
        }
        // An expensive one: due after 10 minutes at the latest.
        auto.cost = Duration::from_secs(3600);
        if let (Some(before), Some(after)) =
            (ago(Duration::from_secs(599)), ago(Duration::from_secs(601)))
        {
            auto.last = before;
            assert!(!auto.due(3));
            auto.last = after;
            assert!(auto.due(3));
        }
    }
}
