//! Run records: one directory per run (format: docs/records.md).
//!
//! A record holds `run.json` ([`RunInfo`]: tool, version, resolved config, seed, status,
//! timings, metrics, a description of every array) and numpy `.npy` arrays
//! (`losses.npy`, `order.npy`, ...). Everything here is written **atomically**: the bytes go
//! to a temporary file in the same directory (`.<name>.tmp-<pid>-<n>`), which is flushed,
//! `fsync`ed and then renamed over the target, so a reader (or a crash) never sees a
//! half-written file.
//!
//! ```no_run
//! use reawaken_analysis::record::{RunDir, OpenMode, RunInfo, RunKind};
//! use ndarray::Array2;
//! # fn main() -> Result<(), reawaken_analysis::record::RecordError> {
//! let dir = RunDir::create("runs/example", OpenMode::Fresh)?;
//! let mut info = RunInfo::new(RunKind::Toy, serde_json::json!({"tasks": 25}), 0);
//! dir.write_run_info(&info)?; // status "running"
//! let losses = Array2::<f32>::zeros((251, 25));
//! dir.write_npy("losses.npy", &losses)?;
//! info.describe_array("losses.npy", "float32 (episodes+1, T): loss of every task after each episode");
//! info.finish(reawaken_analysis::record::RunStatus::Complete);
//! dir.write_run_info(&info)?;
//! let back: Array2<f32> = dir.read_npy("losses.npy")?;
//! # Ok(()) }
//! ```
//!
//! A writer ([`RunDir::create`]) holds the record's lock file ([`LOCK`], the holder's pid)
//! until it is dropped, so two runs never write one record; a lock left by a dead
//! process is taken over with a warning. Every file and sub-directory the tool writes is
//! listed in the record's manifest ([`MANIFEST`]) *before* it is created; `--force`
//! ([`OpenMode::Force`]) deletes exactly what the manifest lists and nothing the user put
//! there.
//!
//! Readers ([`read_npy`], [`read_json`], [`RunDir::read_run_info`]) return a
//! [`RecordError`] that names the file and the problem (missing, not an `.npy` file,
//! truncated, wrong dtype or number of dimensions, invalid JSON ...); they never panic on
//! malformed input and never allocate more than a small multiple of the file's size.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use ndarray::{Array, ArrayBase, Data, Dimension, IxDyn, ShapeBuilder};
use ndarray_npy::{ReadableElement, WritableElement, WriteNpyExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Name of the JSON file describing a run.
pub const RUN_JSON: &str = "run.json";
/// The record's manifest: every file (`name`) and directory (`name/`) the tool wrote into
/// it, one per line, each listed before it was first created.
pub const MANIFEST: &str = ".reawaken-files";
/// The lock file a writing process holds (its pid, as text).
pub const LOCK: &str = ".reawaken-lock";

/// Errors from writing or reading run records. Every variant names the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The output directory exists and holds files, and neither force nor resume was asked.
    #[error(
        "output directory `{0}` already exists and is not empty; pass --force to replace the \
         run record in it (`llm probe` also takes --resume to continue it), or choose another --out"
    )]
    Exists(PathBuf),
    /// `--force` was given for a directory that does not look like a reawaken record.
    #[error(
        "output directory `{0}` is not empty and has no reawaken run.json; refusing to delete \
         files from it even with --force (choose another --out)"
    )]
    NotARecord(PathBuf),
    /// `--resume` of a directory without a run record.
    #[error("nothing to resume: `{0}` has no run.json")]
    NothingToResume(PathBuf),
    /// Another live process holds the record's lock.
    #[error(
        "`{path}` is being written by another reawaken process (pid {pid}, lock file {LOCK});          wait for it to finish or choose another --out"
    )]
    Locked {
        /// The record directory.
        path: PathBuf,
        /// The holder's pid.
        pid: u32,
    },
    /// A path inside the record that is not where the record keeps its files.
    #[error("`{path}`: {problem}")]
    Confined {
        /// The path concerned.
        path: PathBuf,
        /// Why it is refused.
        problem: String,
    },
    /// The output path exists but is not a directory.
    #[error("output path `{0}` exists and is not a directory")]
    NotADirectory(PathBuf),
    /// A file that should be there is not.
    #[error("`{0}` does not exist")]
    Missing(PathBuf),
    /// An I/O failure while reading or writing.
    #[error("cannot {action} `{path}`: {err}")]
    Io {
        /// What we were doing ("read", "write", "create directory", ...).
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The underlying error (in the message, so not chained as a `source`).
        err: io::Error,
    },
    /// The file is not a valid `.npy` file, or does not hold what was asked for.
    #[error("`{path}` is not a usable .npy file: {problem}")]
    Npy {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The array has a different shape than expected.
    #[error("`{path}` has shape {found:?}, expected {expected}")]
    Shape {
        /// The file concerned.
        path: PathBuf,
        /// The shape found in the file.
        found: Vec<usize>,
        /// The expected shape, in words (e.g. "(251, 25)" or "(*, 25)").
        expected: String,
    },
    /// The file is not valid JSON, or not of the expected structure.
    #[error("`{path}` is not valid: {problem}")]
    Json {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it (with line and column).
        problem: String,
    },
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> RecordError + 'a {
    move |source| {
        if source.kind() == io::ErrorKind::NotFound && action.starts_with("read") {
            RecordError::Missing(path.to_path_buf())
        } else {
            RecordError::Io {
                action,
                path: path.to_path_buf(),
                err: source,
            }
        }
    }
}

/// How [`RunDir::create`] treats an existing directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// A new record: the directory must not exist or be empty (it is created).
    Fresh,
    /// Replace a previous record: if the directory exists it must be empty or hold a
    /// reawaken `run.json`; the files and directories its manifest lists (and their
    /// left-over temporary files) are deleted before anything is written (by
    /// [`PreparedRunDir::clear`], when opened with [`RunDir::prepare`]). Files the user put there are left
    /// alone. A record written before manifests existed loses only `run.json`,
    /// `tasks.json`, the arrays its `run.json` lists and `checkpoint/`.
    Force,
    /// Continue an existing record: the directory must hold a `run.json`. Nothing is deleted.
    Resume,
}

/// A run-record directory: opened for reading ([`RunDir::open`]) or held for writing
/// ([`RunDir::create`]: the lock and the manifest).
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
    writer: Option<Arc<Writer>>,
}

/// What a writing `RunDir` holds: the lock (released on drop) and the manifest's names.
#[derive(Debug)]
struct Writer {
    lock: PathBuf,
    listed: Mutex<BTreeSet<String>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.lock);
    }
}

/// Whether process `pid` is alive (Linux `/proc`; elsewhere assumed alive).
fn process_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.is_dir() || proc.join(pid.to_string()).exists()
}

/// The pid of the live process writing the record in `dir`, if one holds its lock (a
/// lock left by a dead process does not count).
pub fn writer_pid(dir: &Path) -> Option<u32> {
    lock_pid(&dir.join(LOCK)).filter(|&pid| process_alive(pid))
}

/// The pid written in a lock file, if it holds one.
fn lock_pid(lock: &Path) -> Option<u32> {
    bounded_read(lock, 64)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|t| t.trim().parse::<u32>().ok())
}

/// Takes the lock of the record directory `dir` (which exists).
fn take_lock(dir: &Path) -> Result<Writer, RecordError> {
    let lock = dir.join(LOCK);
    for _ in 0..3 {
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
        {
            Ok(mut f) => {
                write!(f, "{}", std::process::id()).map_err(io_err("write", &lock))?;
                return Ok(Writer {
                    lock,
                    listed: Mutex::new(BTreeSet::new()),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let holder = lock_pid(&lock);
                match holder {
                    Some(pid) if pid != std::process::id() && process_alive(pid) => {
                        return Err(RecordError::Locked {
                            path: dir.to_path_buf(),
                            pid,
                        })
                    }
                    _ => {
                        tracing::warn!(
                            "{}: taking over the lock left by process {} (no longer running)",
                            dir.display(),
                            holder.map_or_else(|| "?".to_string(), |p| p.to_string())
                        );
                        let _ = fs::remove_file(&lock);
                    }
                }
            }
            Err(e) => return Err(io_err("create", &lock)(e)),
        }
    }
    Err(RecordError::Io {
        action: "lock",
        path: lock,
        err: io::Error::other("the lock file keeps reappearing"),
    })
}

/// A name the manifest may hold: a plain file name, or a plain directory name with `/`.
fn manifest_name_ok(name: &str) -> bool {
    let stem = name.strip_suffix('/').unwrap_or(name);
    !stem.is_empty()
        && stem != "."
        && stem != ".."
        && !stem.contains('/')
        && !stem.contains('\\')
        && stem != LOCK
        && stem != MANIFEST
}

/// The names a record's manifest lists (or, for a record written before manifests, the
/// names the tool is known to write).
fn listed_names(path: &Path) -> Vec<String> {
    if let Ok(bytes) = bounded_read(&path.join(MANIFEST), 1 << 20) {
        return String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::trim)
            .filter(|n| manifest_name_ok(n))
            .map(str::to_string)
            .collect();
    }
    let mut names: Vec<String> = [
        RUN_JSON,
        "tasks.json",
        "losses.npy",
        "order.npy",
        "points.npy",
        "checkpoint/",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    if let Ok(info) = read_json::<RunInfo>(path.join(RUN_JSON)) {
        names.extend(info.arrays.into_keys().filter(|n| manifest_name_ok(n)));
    }
    names
}

/// Refuses what is not a regular file (a FIFO, a device, a directory) before it is opened.
fn regular_file(path: &Path) -> Result<(), RecordError> {
    let meta = fs::metadata(path).map_err(io_err("read", path))?;
    if meta.is_file() {
        Ok(())
    } else {
        Err(RecordError::Io {
            action: "read",
            path: path.to_path_buf(),
            err: io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
        })
    }
}

/// Largest JSON file a record reader accepts.
const MAX_JSON: u64 = 256 << 20;

/// Reads at most `limit` bytes of a regular file (refusing FIFOs, devices and larger
/// files), so that no user-supplied path can make a reader block or read without bound.
pub fn bounded_read(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    // stat before open: opening a FIFO for reading would block until a writer comes.
    let meta = fs::metadata(path)?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    if meta.len() > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} bytes, more than the {limit} accepted", meta.len()),
        ));
    }
    let f = fs::File::open(path)?;
    let mut out = Vec::with_capacity(meta.len() as usize);
    f.take(limit.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("more than the {limit} bytes accepted"),
        ));
    }
    Ok(out)
}

/// A record directory checked and locked for writing ([`RunDir::prepare`]) whose earlier
/// record, with [`OpenMode::Force`], is not deleted yet: [`PreparedRunDir::clear`] does
/// that and gives the [`RunDir`].
pub struct PreparedRunDir {
    dir: RunDir,
    clear: bool,
}

impl PreparedRunDir {
    /// Deletes the earlier record's files, if any (what [`RunDir::create`] does at once).
    pub fn clear(self) -> Result<RunDir, RecordError> {
        if self.clear {
            clear_record_files(&self.dir.path)?;
        }
        Ok(self.dir)
    }
}

impl RunDir {
    /// Creates (or opens, per `mode`) the record directory at `path`. See [`OpenMode`].
    pub fn create(path: impl AsRef<Path>, mode: OpenMode) -> Result<Self, RecordError> {
        Self::prepare(path, mode)?.clear()
    }

    /// [`RunDir::create`] in two steps: everything that can refuse the directory now
    /// (not a directory, not empty, not a record, locked by another writer), and the
    /// deletion of an earlier record's files (a block-freeing `unlink` each, milliseconds
    /// on some disks) later, e.g. on another thread while the writer computes.
    pub fn prepare(path: impl AsRef<Path>, mode: OpenMode) -> Result<PreparedRunDir, RecordError> {
        let path = path.as_ref().to_path_buf();
        if path.exists() && !path.is_dir() {
            return Err(RecordError::NotADirectory(path));
        }
        match mode {
            OpenMode::Resume => {
                if !path.join(RUN_JSON).is_file() {
                    return Err(RecordError::NothingToResume(path));
                }
                let writer = take_lock(&path)?;
                if let Ok(mut l) = writer.listed.lock() {
                    l.extend(listed_names(&path));
                }
                Ok(Self::writing(path, writer).prepared(false))
            }
            OpenMode::Fresh => {
                if path.exists() && !dir_is_empty(&path)? {
                    return Err(RecordError::Exists(path));
                }
                fs::create_dir_all(&path).map_err(io_err("create directory", &path))?;
                let writer = take_lock(&path)?;
                let _ = fs::remove_file(path.join(MANIFEST));
                Ok(Self::writing(path, writer).prepared(false))
            }
            OpenMode::Force => {
                fs::create_dir_all(&path).map_err(io_err("create directory", &path))?;
                let writer = take_lock(&path)?;
                let clear = !dir_is_empty(&path)?;
                if clear && !looks_like_record(&path) {
                    return Err(RecordError::NotARecord(path));
                }
                Ok(Self::writing(path, writer).prepared(clear))
            }
        }
    }

    fn prepared(self, clear: bool) -> PreparedRunDir {
        PreparedRunDir { dir: self, clear }
    }

    fn writing(path: PathBuf, writer: Writer) -> Self {
        Self {
            path,
            writer: Some(Arc::new(writer)),
        }
    }

    /// Lists `name` (a file, or a directory as `name/`) in the manifest before it is first
    /// written. A record opened for reading lists nothing.
    fn track(&self, name: &str) -> Result<(), RecordError> {
        self.will_write(&[name])
    }

    /// Lists the files (or directories, as `name/`) a writer is going to write in the
    /// manifest, with one synced append for all of them instead of one each: for a writer
    /// that knows its files at the start (the toy's record). Each is listed once, however
    /// often it is then written.
    pub fn will_write(&self, names: &[&str]) -> Result<(), RecordError> {
        let Some(w) = &self.writer else {
            return Ok(());
        };
        if let Some(bad) = names.iter().find(|n| !manifest_name_ok(n)) {
            return Err(RecordError::Confined {
                path: self.path.join(bad),
                problem: "not a plain name inside the record".into(),
            });
        }
        let mut listed = w.listed.lock().unwrap_or_else(|e| e.into_inner());
        let mut new: Vec<&str> = Vec::new();
        for &n in names {
            if !listed.contains(n) && !new.contains(&n) {
                new.push(n);
            }
        }
        if new.is_empty() {
            return Ok(());
        }
        let m = self.path.join(MANIFEST);
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&m)
            .map_err(io_err("write", &m))?;
        let lines: String = new.iter().map(|n| format!("{n}\n")).collect();
        f.write_all(lines.as_bytes())
            .and_then(|_| f.sync_data())
            .map_err(io_err("write", &m))?;
        listed.extend(new.into_iter().map(str::to_string));
        Ok(())
    }

    /// The sub-directory `name` of the record (created, listed in the manifest). A
    /// symbolic link or a file in its place is refused, so nothing is written or deleted
    /// outside the record.
    pub fn subdir(&self, name: &str) -> Result<PathBuf, RecordError> {
        self.track(&format!("{name}/"))?;
        let p = self.path.join(name);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() || !m.is_dir() => {
                return Err(RecordError::Confined {
                    path: p,
                    problem: "is a symbolic link or a file where the record keeps a directory"
                        .into(),
                })
            }
            Ok(_) => {}
            Err(_) => fs::create_dir_all(&p).map_err(io_err("create directory", &p))?,
        }
        Ok(p)
    }

    /// An existing sub-directory `name` of the record, refusing a symbolic link; `None`
    /// when there is none.
    pub fn existing_subdir(&self, name: &str) -> Result<Option<PathBuf>, RecordError> {
        let p = self.path.join(name);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() || !m.is_dir() => Err(RecordError::Confined {
                path: p,
                problem: "is a symbolic link or a file where the record keeps a directory".into(),
            }),
            Ok(_) => Ok(Some(p)),
            Err(_) => Ok(None),
        }
    }

    /// Opens an existing record for reading (e.g. for `figures render`). The directory must
    /// exist; `run.json` is not required here (use [`RunDir::read_run_info`]).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, RecordError> {
        let path = path.as_ref().to_path_buf();
        if !path.exists() {
            return Err(RecordError::Missing(path));
        }
        if !path.is_dir() {
            return Err(RecordError::NotADirectory(path));
        }
        Ok(Self { path, writer: None })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Path of a file inside the record.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Whether the record holds a file of that name.
    pub fn has(&self, name: &str) -> bool {
        self.file(name).is_file()
    }

    /// Writes an array as `.npy` atomically.
    pub fn write_npy<A, S, D>(&self, name: &str, array: &ArrayBase<S, D>) -> Result<(), RecordError>
    where
        A: WritableElement,
        S: Data<Elem = A>,
        D: Dimension,
    {
        self.track(name)?;
        write_npy(self.file(name), array)
    }

    /// Serialises `value` as pretty JSON and writes it atomically.
    pub fn write_json<T: Serialize + ?Sized>(
        &self,
        name: &str,
        value: &T,
    ) -> Result<(), RecordError> {
        self.track(name)?;
        write_json(self.file(name), value)
    }

    /// Writes raw bytes atomically.
    pub fn write_bytes(&self, name: &str, bytes: &[u8]) -> Result<(), RecordError> {
        self.track(name)?;
        write_atomic(&self.file(name), bytes)
    }

    /// Writes `run.json`.
    pub fn write_run_info(&self, info: &RunInfo) -> Result<(), RecordError> {
        self.write_json(RUN_JSON, info)
    }

    /// Reads an `.npy` array of element type `A` and dimensionality `D`.
    pub fn read_npy<A: ReadableElement, D: Dimension>(
        &self,
        name: &str,
    ) -> Result<Array<A, D>, RecordError> {
        read_npy(self.file(name))
    }

    /// Reads and deserialises a JSON file.
    pub fn read_json<T: DeserializeOwned>(&self, name: &str) -> Result<T, RecordError> {
        read_json(self.file(name))
    }

    /// Reads `run.json`.
    pub fn read_run_info(&self) -> Result<RunInfo, RecordError> {
        let info: RunInfo = self.read_json(RUN_JSON)?;
        if info.tool != "reawaken" {
            return Err(RecordError::Json {
                path: self.file(RUN_JSON),
                problem: format!("field \"tool\" is {:?}, expected \"reawaken\"", info.tool),
            });
        }
        Ok(info)
    }
}

/// Whether the directory holds nothing but (possibly) this tool's lock file.
fn dir_is_empty(path: &Path) -> Result<bool, RecordError> {
    let it = fs::read_dir(path).map_err(io_err("read directory", path))?;
    for e in it {
        let e = e.map_err(io_err("read directory", path))?;
        if e.file_name() != LOCK {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A reawaken record: `run.json` is a complete [`RunInfo`] written by this tool (not
/// just any JSON that says `"tool": "reawaken"`).
fn looks_like_record(path: &Path) -> bool {
    read_json::<RunInfo>(path.join(RUN_JSON)).is_ok_and(|info| info.tool == "reawaken")
}

/// Deletes what the record's manifest lists (see [`OpenMode::Force`]), the left-over
/// temporary files of those names, and the manifest itself.
fn clear_record_files(path: &Path) -> Result<(), RecordError> {
    for name in listed_names(path) {
        let (stem, is_dir) = match name.strip_suffix('/') {
            Some(stem) => (stem, true),
            None => (name.as_str(), false),
        };
        let p = path.join(stem);
        if let Ok(meta) = fs::symlink_metadata(&p) {
            if is_dir && meta.is_dir() && !meta.file_type().is_symlink() {
                fs::remove_dir_all(&p).map_err(io_err("delete", &p))?;
            } else if !meta.is_dir() {
                // A file, or a symbolic link (the link goes, never its target).
                fs::remove_file(&p).map_err(io_err("delete", &p))?;
            }
        }
        let tmp_prefix = format!(".{stem}.tmp-");
        if let Ok(entries) = fs::read_dir(path) {
            for e in entries.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with(&tmp_prefix) && e.path().is_file() {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
    }
    let m = path.join(MANIFEST);
    if m.exists() {
        fs::remove_file(&m).map_err(io_err("delete", &m))?;
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically: temp file in the same directory, fsync, rename,
/// then (best effort) fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RecordError> {
    write_atomic_leaving_dir_sync(path, bytes)?;
    sync_dir(&parent_dir(path));
    Ok(())
}

/// [`write_atomic`] without its last step, the sync of the directory that makes the
/// rename durable: for a writer of many files in one directory (the figures), which calls
/// [`sync_dir`] once after the last.
pub fn write_atomic_leaving_dir_sync(path: &Path, bytes: &[u8]) -> Result<(), RecordError> {
    write_through_temp(path, |f| f.write_all(bytes))
}

/// What `write` writes into a temporary file becomes `path`: fsync, rename (the
/// directory is not synced). On failure the temporary is removed.
fn write_through_temp(
    path: &Path,
    write: impl FnOnce(&mut fs::File) -> io::Result<()>,
) -> Result<(), RecordError> {
    let tmp = temp_path(path);
    // Synced through the handle that wrote it (`publish` has to open the file again).
    let written = fs::File::create(&tmp)
        .and_then(|mut f| {
            write(&mut f)?;
            f.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, path));
    removing_temp_on_error(&tmp, path, written)
}

/// The temporary name `write_atomic` writes `path` under first: `.<name>.tmp-<pid>-<n>`
/// in the same directory, `n` counting this process's temporaries, so that two threads
/// writing the same path never share one (for writers that produce the file themselves,
/// then [`publish`]).
pub fn temp_path(path: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    parent_dir(path).join(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Makes a completely written temporary file the file `path`: fsync, rename over the
/// target, then (best effort) fsync of the directory. On failure the temporary is removed.
pub fn publish(tmp: &Path, path: &Path) -> Result<(), RecordError> {
    rename_synced(tmp, path)?;
    sync_dir(&parent_dir(path));
    Ok(())
}

/// fsync of `tmp`, then its rename over `path`; on failure the temporary is removed.
fn rename_synced(tmp: &Path, path: &Path) -> Result<(), RecordError> {
    let result = fs::File::open(tmp)
        .and_then(|f| f.sync_all())
        .and_then(|()| fs::rename(tmp, path));
    removing_temp_on_error(tmp, path, result)
}

/// The outcome of writing `path` through the temporary `tmp`; on failure `tmp` is removed.
fn removing_temp_on_error(
    tmp: &Path,
    path: &Path,
    result: std::io::Result<()>,
) -> Result<(), RecordError> {
    result.map_err(|err| {
        let _ = fs::remove_file(tmp);
        RecordError::Io {
            action: "write",
            path: path.to_path_buf(),
            err,
        }
    })
}

/// fsync of a directory (best effort): makes the renames into it durable.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Writes an array as `.npy` to `path` atomically.
pub fn write_npy<A, S, D>(
    path: impl AsRef<Path>,
    array: &ArrayBase<S, D>,
) -> Result<(), RecordError>
where
    A: WritableElement,
    S: Data<Elem = A>,
    D: Dimension,
{
    let path = path.as_ref();
    let mut format_error = None;
    // Straight into the file: a contiguous array goes to `write` as one slice, with no
    // copy of it in memory first.
    let written = write_through_temp(path, |f| {
        let mut w = io::BufWriter::new(f);
        array.write_npy(&mut w).map_err(|e| match e {
            ndarray_npy::WriteNpyError::Io(e) => e,
            other => {
                format_error = Some(other.to_string());
                io::Error::other("not an .npy array")
            }
        })?;
        w.flush()
    });
    if let Some(problem) = format_error {
        return Err(RecordError::Npy {
            path: path.to_path_buf(),
            problem,
        });
    }
    written?;
    sync_dir(&parent_dir(path));
    Ok(())
}

/// Serialises `value` as pretty JSON to `path` atomically. Non-finite floats become `null`.
pub fn write_json<T: Serialize + ?Sized>(
    path: impl AsRef<Path>,
    value: &T,
) -> Result<(), RecordError> {
    let path = path.as_ref();
    let mut buf = serde_json::to_vec_pretty(value).map_err(|e| RecordError::Json {
        path: path.to_path_buf(),
        problem: e.to_string(),
    })?;
    buf.push(b'\n');
    write_atomic(path, &buf)
}

/// Reads and deserialises a JSON file; errors name the file, line and column.
pub fn read_json<T: DeserializeOwned>(path: impl AsRef<Path>) -> Result<T, RecordError> {
    let path = path.as_ref();
    let bytes = bounded_read(path, MAX_JSON).map_err(io_err("read", path))?;
    serde_json::from_slice(&bytes).map_err(|e| RecordError::Json {
        path: path.to_path_buf(),
        problem: e.to_string(),
    })
}

/// Shape and dtype descriptor parsed from an `.npy` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyHeader {
    /// numpy dtype descriptor, e.g. `<f4`, `<i8`.
    pub descr: String,
    /// Array shape.
    pub shape: Vec<usize>,
    /// Whether the data are in Fortran order.
    pub fortran_order: bool,
    /// Offset of the data in the file.
    pub data_offset: usize,
}

impl NpyHeader {
    /// Size of one element in bytes, from the descriptor (`<f4` → 4).
    pub fn item_size(&self) -> Option<usize> {
        let digits: String = self
            .descr
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_digit())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        digits.parse().ok()
    }

    /// A human name of the dtype (`float32`, `int64`, ...), or the raw descriptor.
    pub fn dtype_name(&self) -> String {
        let kind = self.descr.trim_start_matches(['<', '>', '|', '=']);
        match kind {
            "f4" => "float32".into(),
            "f8" => "float64".into(),
            "f2" => "float16".into(),
            "i1" => "int8".into(),
            "i2" => "int16".into(),
            "i4" => "int32".into(),
            "i8" => "int64".into(),
            "u1" => "uint8".into(),
            "u2" => "uint16".into(),
            "u4" => "uint32".into(),
            "u8" => "uint64".into(),
            "b1" => "bool".into(),
            other => other.to_string(),
        }
    }
}

/// Parses the header of an `.npy` file held in `bytes` (versions 1–3). Errors are plain
/// sentences ("not an .npy file (bad magic bytes)", "truncated header", ...).
pub fn parse_npy_header(bytes: &[u8]) -> Result<NpyHeader, String> {
    const MAGIC: &[u8] = b"\x93NUMPY";
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("not an .npy file (missing the \\x93NUMPY magic bytes)".into());
    }
    let major = bytes[6];
    let (len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err("truncated header".into());
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12usize,
            )
        }
        v => return Err(format!("unsupported .npy format version {v}")),
    };
    let end = start
        .checked_add(len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| "truncated header".to_string())?;
    let text =
        std::str::from_utf8(&bytes[start..end]).map_err(|_| "header is not text".to_string())?;
    let descr = dict_str_value(text, "descr").ok_or("header has no 'descr' entry")?;
    let fortran_order = match dict_raw_value(text, "fortran_order") {
        Some(v) if v.starts_with("True") => true,
        Some(v) if v.starts_with("False") => false,
        _ => return Err("header has no valid 'fortran_order' entry".into()),
    };
    let shape_src = dict_raw_value(text, "shape").ok_or("header has no 'shape' entry")?;
    let open = shape_src.find('(').ok_or("header 'shape' is not a tuple")?;
    let close = shape_src[open..]
        .find(')')
        .ok_or("header 'shape' is not a tuple")?
        + open;
    let mut shape = Vec::new();
    for part in shape_src[open + 1..close].split(',') {
        let p = part.trim().trim_end_matches('L');
        if p.is_empty() {
            continue;
        }
        shape.push(
            p.parse::<usize>()
                .map_err(|_| format!("header 'shape' has a bad entry {p:?}"))?,
        );
    }
    Ok(NpyHeader {
        descr,
        shape,
        fortran_order,
        data_offset: end,
    })
}

fn dict_raw_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    for quote in ['\'', '"'] {
        let pat = format!("{quote}{key}{quote}");
        if let Some(i) = text.find(&pat) {
            let rest = &text[i + pat.len()..];
            let rest = rest.trim_start();
            let rest = rest.strip_prefix(':')?;
            return Some(rest.trim_start());
        }
    }
    None
}

fn dict_str_value(text: &str, key: &str) -> Option<String> {
    let v = dict_raw_value(text, key)?;
    let q = v.chars().next()?;
    if q != '\'' && q != '"' {
        return None;
    }
    let inner = &v[1..];
    let close = inner.find(q)?;
    Some(inner[..close].to_string())
}

/// Reads the header of an `.npy` file without loading its data.
pub fn read_npy_header(path: impl AsRef<Path>) -> Result<NpyHeader, RecordError> {
    use std::io::Read;
    let path = path.as_ref();
    regular_file(path)?;
    let f = fs::File::open(path).map_err(io_err("read", path))?;
    let mut buf = Vec::new();
    f.take(1 << 20)
        .read_to_end(&mut buf)
        .map_err(io_err("read", path))?;
    parse_npy_header(&buf).map_err(|problem| RecordError::Npy {
        path: path.to_path_buf(),
        problem,
    })
}

fn npy_err(
    path: &Path,
    header: &NpyHeader,
    expected_ndim: Option<usize>,
    e: ndarray_npy::ReadNpyError,
) -> RecordError {
    use ndarray_npy::ReadNpyError as E;
    let problem = match e {
        E::WrongDescriptor(_) => format!(
            "its dtype is {} ({}), which cannot be read as the type asked for",
            header.dtype_name(),
            header.descr
        ),
        E::WrongNdim(_, actual) => format!(
            "it has {actual} dimension(s) (shape {:?}), expected {}",
            header.shape,
            expected_ndim.map_or("another number".to_string(), |n| n.to_string())
        ),
        E::MissingData => "the file is truncated (fewer data bytes than its header says)".into(),
        E::ExtraBytes(n) => format!("{n} unexpected bytes after the data"),
        other => other.to_string(),
    };
    RecordError::Npy {
        path: path.to_path_buf(),
        problem,
    }
}

/// Reads an `.npy` file as an array of element type `A` and dimensionality `D`
/// (e.g. `read_npy::<f32, Ix2>(p)`). The dtype must match `A` exactly (float32 is not
/// silently converted to float64; see [`read_npy_f64`] for that).
pub fn read_npy<A: ReadableElement, D: Dimension>(
    path: impl AsRef<Path>,
) -> Result<Array<A, D>, RecordError> {
    NpyFile::read(path.as_ref())?.array()
}

/// Reads a float32 or float64 `.npy` file as `f64` (the analysis layer works in f64).
pub fn read_npy_f64<D: Dimension>(path: impl AsRef<Path>) -> Result<Array<f64, D>, RecordError> {
    NpyFile::read(path.as_ref())?.array_widened::<f32, f64, D>("f4")
}

/// An `.npy` file read into memory once, its header parsed: [`NpyFile::array`] decodes
/// it as the element type a reader picks from [`NpyFile::header`].
pub struct NpyFile {
    path: PathBuf,
    bytes: Vec<u8>,
    /// The parsed header.
    pub header: NpyHeader,
}

impl NpyFile {
    /// Reads `path` (a regular file) and parses its header.
    pub fn read(path: &Path) -> Result<Self, RecordError> {
        regular_file(path)?;
        let bytes = fs::read(path).map_err(io_err("read", path))?;
        let header = parse_npy_header(&bytes).map_err(|problem| RecordError::Npy {
            path: path.to_path_buf(),
            problem,
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            bytes,
            header,
        })
    }

    /// The data as `W`, from a file of dtype `W` or of the narrower `N` (whose
    /// descriptor, without its byte order, is `narrow`: `"f4"` for f32 → f64), widened.
    pub fn array_widened<N, W, D>(&self, narrow: &str) -> Result<Array<W, D>, RecordError>
    where
        N: ReadableElement + Clone,
        W: ReadableElement + From<N>,
        D: Dimension,
    {
        if self.header.descr.trim_start_matches(['<', '=', '|']) == narrow {
            Ok(self.array::<N, D>()?.mapv(W::from))
        } else {
            self.array::<W, D>()
        }
    }

    fn error(&self, problem: String) -> RecordError {
        RecordError::Npy {
            path: self.path.clone(),
            problem,
        }
    }

    /// The data as an array of element type `A` (which must be the file's dtype) and
    /// dimensionality `D`. A header that promises more data than the file holds is
    /// refused before anything is allocated.
    pub fn array<A: ReadableElement, D: Dimension>(&self) -> Result<Array<A, D>, RecordError> {
        let header = &self.header;
        let count = header
            .shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d));
        let avail = self.bytes.len() - header.data_offset;
        let needed = count.and_then(|c| c.checked_mul(header.item_size().unwrap_or(1).max(1)));
        let count = match (count, needed) {
            (Some(count), Some(n)) if n <= avail => count,
            (Some(_), Some(n)) => {
                return Err(self.error(format!(
                    "the file is truncated: shape {:?} of {} needs {n} data bytes, found {avail}",
                    header.shape,
                    header.dtype_name()
                )))
            }
            _ => {
                return Err(self.error(format!(
                    "its header shape {:?} is impossibly large",
                    header.shape
                )))
            }
        };
        if let Some(nd) = D::NDIM {
            if nd != header.shape.len() {
                return Err(self.error(format!(
                    "it has {} dimension(s) (shape {:?}), expected {nd}",
                    header.shape.len(),
                    header.shape
                )));
            }
        }
        // The descriptor as the header parser of `ndarray-npy` would give it, so that
        // the element type checks it without that (much slower) parser running again.
        let descr = py_literal::Value::String(header.descr.clone());
        let data = A::read_to_end_exact_vec(&self.bytes[header.data_offset..], &descr, count)
            .map_err(|e| npy_err(&self.path, header, D::NDIM, e.into()))?;
        let shape = IxDyn(&header.shape).set_f(header.fortran_order);
        Array::from_shape_vec(shape, data)
            .map_err(|e| {
                self.error(format!(
                    "its data do not fill shape {:?}: {e}",
                    header.shape
                ))
            })?
            .into_dimensionality::<D>()
            .map_err(|e| self.error(format!("shape {:?}: {e}", header.shape)))
    }
}

/// Checks that `shape` matches `expected`, where `None` entries match anything.
pub fn check_shape(
    path: &Path,
    shape: &[usize],
    expected: &[Option<usize>],
) -> Result<(), RecordError> {
    let ok = shape.len() == expected.len()
        && shape
            .iter()
            .zip(expected)
            .all(|(s, e)| e.is_none_or(|e| e == *s));
    if ok {
        Ok(())
    } else {
        let parts: Vec<String> = expected
            .iter()
            .map(|e| e.map_or("*".to_string(), |v| v.to_string()))
            .collect();
        Err(RecordError::Shape {
            path: path.to_path_buf(),
            found: shape.to_vec(),
            expected: format!("({})", parts.join(", ")),
        })
    }
}

crate::choice! {
    /// What produced the record.
    pub enum RunKind("run kind") {
        /// `reawaken toy simulate`.
        Toy = "toy",
        /// `reawaken llm probe`.
        Llm = "llm",
    }
}

crate::choice! {
    /// State of the run.
    pub enum RunStatus("run status") {
        /// Started, not finished (or killed: a record that stays `running` was interrupted).
        Running = "running",
        /// Finished normally; every array is complete.
        Complete = "complete",
        /// Stopped because a loss became NaN/inf or ran away; arrays hold everything up to
        /// that point.
        Diverged = "diverged",
        /// Stopped by an error (see `message`).
        Failed = "failed",
        /// Stopped by a signal (Ctrl-C, SIGTERM, SIGHUP) at a safe point; `message` says
        /// which and whether `--resume` can continue it.
        Interrupted = "interrupted",
    }
}

/// Wall-clock timings. Times are UTC: `*_unix` in seconds since 1970 (fractional),
/// `started`/`finished` the same instant as RFC 3339 text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Start, RFC 3339 UTC (e.g. `2026-11-23T19:28:20Z`).
    pub started: String,
    /// Start, seconds since the Unix epoch.
    pub started_unix: f64,
    /// End, RFC 3339 UTC; `null` while running.
    #[serde(default)]
    pub finished: Option<String>,
    /// End, seconds since the Unix epoch; `null` while running.
    #[serde(default)]
    pub finished_unix: Option<f64>,
    /// `finished_unix − started_unix` (for resumed runs: summed over sessions when the
    /// writer says so); `null` while running.
    #[serde(default)]
    pub elapsed_s: Option<f64>,
    /// Further named durations in seconds (e.g. `"train_s"`, `"eval_s"`).
    #[serde(default, flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Timings {
    /// Timings starting now.
    pub fn start_now() -> Self {
        let now = unix_now();
        Self {
            started: rfc3339(now),
            started_unix: now,
            finished: None,
            finished_unix: None,
            elapsed_s: None,
            extra: BTreeMap::new(),
        }
    }

    /// Marks the end now and fills `elapsed_s`.
    pub fn finish_now(&mut self) {
        let now = unix_now();
        self.finished = Some(rfc3339(now));
        self.finished_unix = Some(now);
        self.elapsed_s = Some((now - self.started_unix).max(0.0));
    }
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Formats Unix seconds as RFC 3339 UTC with second precision (`1970-01-01T00:00:00Z`).
pub fn rfc3339(unix: f64) -> String {
    let secs = unix.floor() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// The `metrics` object of `run.json` (docs/records.md). Non-finite values are stored as `null`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// RS(n) for n = 1..E−1 (`null` where undefined). Never clipped.
    pub recovery_score: Vec<Option<f64>>,
    /// `true` where RS(n) > 1 (the loss fell below its post-training value: generic
    /// learning rather than recovery).
    #[serde(default)]
    pub recovery_score_above_one: Vec<bool>,
    /// Prequential loss (loss of the task about to be trained, just before its episode)
    /// averaged over epochs 2..E (every training of a task that was trained before).
    pub online_loss_mean: Option<f64>,
    /// Prequential loss averaged per epoch (entry n−1 = the n-th training of each task).
    #[serde(default)]
    pub online_loss_per_epoch: Vec<Option<f64>>,
    /// Mean over tasks of the loss in the last row of `losses.npy`.
    #[serde(default)]
    pub final_loss_mean: Option<f64>,
    /// Further metrics added by a particular tool.
    #[serde(default, flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Metrics {
    /// Computes the standard metrics from a loss matrix (episodes+1, T) and the order
    /// (episodes,), see [`crate::metrics`].
    pub fn compute<S, A>(
        losses: &ArrayBase<S, ndarray::Ix2>,
        order: &[i64],
    ) -> Result<Self, crate::metrics::MetricsError>
    where
        S: Data<Elem = A>,
        A: Copy + Into<f64>,
    {
        let rs = crate::metrics::recovery_score(losses, order)?;
        let online = crate::metrics::online_loss(losses, order)?;
        let last = losses.nrows().checked_sub(1).map(|r| {
            let row = losses.row(r);
            row.iter().map(|&v| v.into()).sum::<f64>() / row.len().max(1) as f64
        });
        Ok(Self {
            recovery_score_above_one: rs.iter().map(|v| v.is_some_and(|x| x > 1.0)).collect(),
            recovery_score: rs,
            online_loss_mean: online.mean_after_first.filter(|v| v.is_finite()),
            online_loss_per_epoch: online.per_epoch,
            final_loss_mean: last.filter(|v| v.is_finite()),
            extra: BTreeMap::new(),
        })
    }
}

/// Contents of `run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Always `"reawaken"`.
    pub tool: String,
    /// Version of the tool that wrote the record.
    pub version: String,
    /// `toy` or `llm`.
    pub kind: RunKind,
    /// The resolved configuration (defaults ← config file ← flags), keys = CLI flag names.
    pub config: serde_json::Value,
    /// The seed.
    pub seed: u64,
    /// `running`, `complete`, `diverged`, `failed` or `interrupted`.
    pub status: RunStatus,
    /// Timings.
    pub timings: Timings,
    /// Metrics (empty while running).
    #[serde(default)]
    pub metrics: Metrics,
    /// Every array file of the record with a description (dtype, shape, meaning).
    #[serde(default)]
    pub arrays: BTreeMap<String, String>,
    /// Episodes completed so far (rows of `losses.npy` minus one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episodes_done: Option<usize>,
    /// For `diverged`: the (1-based) episode after which a loss was first non-finite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diverged_at_episode: Option<usize>,
    /// A human-readable note (error for `failed`, cause for `diverged`, warnings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Tool-specific fields.
    #[serde(default, flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl RunInfo {
    /// A new `running` record starting now.
    pub fn new(kind: RunKind, config: serde_json::Value, seed: u64) -> Self {
        Self {
            tool: "reawaken".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind,
            config,
            seed,
            status: RunStatus::Running,
            timings: Timings::start_now(),
            metrics: Metrics::default(),
            arrays: BTreeMap::new(),
            episodes_done: None,
            diverged_at_episode: None,
            message: None,
            extra: BTreeMap::new(),
        }
    }

    /// Adds (or replaces) the description of an array file.
    pub fn describe_array(&mut self, file: &str, description: &str) {
        self.arrays.insert(file.into(), description.into());
    }

    /// Sets the final status and the end time.
    pub fn finish(&mut self, status: RunStatus) {
        self.status = status;
        self.timings.finish_now();
    }

    /// Top-level config keys whose values differ between this record and `other`
    /// (keys present in only one of them count as differing). For `--resume` checks.
    pub fn config_diff(&self, other: &serde_json::Value) -> Vec<String> {
        crate::settings::config_diff(&self.config, other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array1, Array2, Ix1, Ix2};

    /// The readers decode what `ndarray-npy` writes, in C and Fortran order, as its own
    /// reader does; a dtype other than the one asked for and bytes after the data are
    /// refused with the file named.
    #[test]
    fn npy_readers_agree_with_ndarray_npy() {
        use ndarray::{Array3, Ix3, ShapeBuilder};
        use ndarray_npy::{ReadNpyExt, WriteNpyExt};
        let dir = tempfile::tempdir().unwrap();
        let c = Array3::from_shape_fn((2, 3, 4), |(i, j, k)| (i * 100 + j * 10 + k) as f64 - 7.5);
        let f = Array3::from_shape_vec((2, 3, 4).f(), c.iter().copied().collect()).unwrap();
        for (name, a) in [("c.npy", &c), ("f.npy", &f)] {
            let path = dir.path().join(name);
            let mut bytes = Vec::new();
            a.write_npy(&mut bytes).unwrap();
            fs::write(&path, &bytes).unwrap();
            let theirs = Array3::<f64>::read_npy(&bytes[..]).unwrap();
            assert_eq!(read_npy::<f64, Ix3>(&path).unwrap(), theirs);
            assert_eq!(read_npy_f64::<Ix3>(&path).unwrap(), theirs);
            assert_eq!(read_npy::<f64, IxDyn>(&path).unwrap().shape(), &[2, 3, 4]);
            let narrow = a.mapv(|v| v as f32);
            let mut bytes32 = Vec::new();
            narrow.write_npy(&mut bytes32).unwrap();
            fs::write(&path, &bytes32).unwrap();
            assert_eq!(read_npy_f64::<Ix3>(&path).unwrap(), narrow.mapv(f64::from));
            let wrong = read_npy::<i64, Ix3>(&path).unwrap_err().to_string();
            assert!(wrong.contains(name) && wrong.contains("dtype"), "{wrong}");
            bytes32.extend_from_slice(&[0; 4]);
            fs::write(&path, &bytes32).unwrap();
            let extra = read_npy::<f32, Ix3>(&path).unwrap_err().to_string();
            assert!(extra.contains("unexpected bytes"), "{extra}");
        }
    }

    #[test]
    fn npy_roundtrip_and_header() {
        let dir = tempfile::tempdir().unwrap();
        let rd = RunDir::create(dir.path().join("r"), OpenMode::Fresh).unwrap();
        let a: Array2<f32> = array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.5]];
        rd.write_npy("a.npy", &a).unwrap();
        let h = read_npy_header(rd.file("a.npy")).unwrap();
        assert_eq!(h.shape, vec![2, 3]);
        assert_eq!(h.dtype_name(), "float32");
        let b: Array2<f32> = rd.read_npy("a.npy").unwrap();
        assert_eq!(a, b);
        let c: Array2<f64> = read_npy_f64(rd.file("a.npy")).unwrap();
        assert_eq!(c[[1, 2]], 6.5);
        // wrong dtype
        let e = rd.read_npy::<i64, Ix2>("a.npy").unwrap_err().to_string();
        assert!(e.contains("a.npy") && e.contains("float32"), "{e}");
        // wrong ndim
        let e = rd.read_npy::<f32, Ix1>("a.npy").unwrap_err().to_string();
        assert!(e.contains("2 dimension"), "{e}");
        // no temp files left: the array, the manifest listing it, the writer's lock
        let mut names: Vec<_> = fs::read_dir(rd.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, [MANIFEST, LOCK, "a.npy"]);
        let path = rd.path().to_path_buf();
        drop(rd);
        assert!(!path.join(LOCK).exists(), "the lock goes with the writer");
    }

    #[test]
    fn one_writer_per_record_and_stale_locks_are_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r");
        let a = RunDir::create(&p, OpenMode::Fresh).unwrap();
        a.write_run_info(&RunInfo::new(RunKind::Toy, serde_json::json!({}), 0))
            .unwrap();
        // A second writer is refused while the first holds the lock (pid 1 is alive).
        fs::write(p.join(LOCK), "1").unwrap();
        for mode in [OpenMode::Force, OpenMode::Resume] {
            let e = RunDir::create(&p, mode).unwrap_err();
            assert!(matches!(e, RecordError::Locked { pid: 1, .. }), "{e}");
        }
        // A lock whose process is gone (no such pid) is taken over.
        fs::write(p.join(LOCK), "4194999").unwrap();
        let b = RunDir::create(&p, OpenMode::Resume).unwrap();
        assert_eq!(
            fs::read_to_string(p.join(LOCK)).unwrap(),
            std::process::id().to_string()
        );
        drop(b);
        drop(a);
    }

    #[test]
    fn force_deletes_only_what_the_manifest_lists() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r");
        let rd = RunDir::create(&p, OpenMode::Fresh).unwrap();
        rd.write_run_info(&RunInfo::new(RunKind::Toy, serde_json::json!({}), 0))
            .unwrap();
        rd.write_npy("losses.npy", &Array1::<f32>::zeros(3))
            .unwrap();
        let ck = rd.subdir("checkpoint").unwrap();
        fs::write(ck.join("state.json"), "{}").unwrap();
        drop(rd);
        // The user's own files, with the extensions the tool uses.
        for f in ["my_analysis.json", "notes.npy", "model.safetensors"] {
            fs::write(p.join(f), "mine").unwrap();
        }
        let listed = fs::read_to_string(p.join(MANIFEST)).unwrap();
        assert_eq!(listed, "run.json\nlosses.npy\ncheckpoint/\n");
        let rd = RunDir::create(&p, OpenMode::Force).unwrap();
        let mut left: Vec<String> = fs::read_dir(&p)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [LOCK, "model.safetensors", "my_analysis.json", "notes.npy"]
        );
        drop(rd);
        // Only a complete run.json makes a record: {"tool": "reawaken"} alone does not.
        let q = dir.path().join("q");
        fs::create_dir(&q).unwrap();
        fs::write(q.join(RUN_JSON), r#"{"tool":"reawaken"}"#).unwrap();
        let e = RunDir::create(&q, OpenMode::Force).unwrap_err();
        assert!(matches!(e, RecordError::NotARecord(_)), "{e}");
        assert!(q.join(RUN_JSON).exists());
        // A symbolic link where the record keeps a directory is refused.
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("keep.txt"), "x").unwrap();
        let rd = RunDir::create(dir.path().join("s"), OpenMode::Fresh).unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&outside, rd.file("checkpoint")).unwrap();
            assert!(rd.subdir("checkpoint").is_err());
            assert!(rd.existing_subdir("checkpoint").is_err());
            assert!(outside.join("keep.txt").exists());
        }
    }

    #[test]
    fn files_listed_ahead_are_listed_once_and_forced_away() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r");
        let rd = RunDir::create(&p, OpenMode::Fresh).unwrap();
        rd.will_write(&[RUN_JSON, "a.npy", "a.npy", "b.npy"])
            .unwrap();
        rd.write_npy("a.npy", &Array1::<f32>::zeros(2)).unwrap();
        rd.write_run_info(&RunInfo::new(RunKind::Toy, serde_json::json!({}), 0))
            .unwrap();
        rd.will_write(&["b.npy", "c.npy"]).unwrap();
        let e = rd.will_write(&["d.npy", "../x"]).unwrap_err();
        assert!(matches!(e, RecordError::Confined { .. }), "{e}");
        let listed = fs::read_to_string(p.join(MANIFEST)).unwrap();
        assert_eq!(listed, "run.json\na.npy\nb.npy\nc.npy\n");
        fs::write(p.join("b.npy"), "written by the writer").unwrap();
        drop(rd);
        let _rd = RunDir::create(&p, OpenMode::Force).unwrap();
        for gone in [RUN_JSON, "a.npy", "b.npy"] {
            assert!(!p.join(gone).exists(), "{gone} survived --force");
        }
    }

    #[test]
    fn bounded_reads_refuse_fifos_devices_and_large_files() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.json");
        fs::write(&big, vec![b' '; 2048]).unwrap();
        assert!(bounded_read(&big, 1024).is_err());
        assert_eq!(bounded_read(&big, 4096).unwrap().len(), 2048);
        assert!(bounded_read(Path::new("/dev/zero"), 1 << 20).is_err());
        assert!(read_json::<serde_json::Value>("/dev/zero").is_err());
        assert!(read_npy::<f32, Ix1>("/dev/zero").is_err());
        #[cfg(unix)]
        {
            let fifo = dir.path().join("fifo");
            let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            // Refused before opening: opening a FIFO would block.
            assert!(bounded_read(&fifo, 1024).is_err());
            assert!(read_npy_header(&fifo).is_err());
        }
    }

    #[test]
    fn npy_bad_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.npy");
        let e = read_npy::<f32, Ix1>(&p).unwrap_err();
        assert!(matches!(e, RecordError::Missing(_)));
        fs::write(&p, b"hello world, not numpy").unwrap();
        let e = read_npy::<f32, Ix1>(&p).unwrap_err().to_string();
        assert!(e.contains("magic"), "{e}");
        // truncated
        let a = Array1::<f64>::linspace(0.0, 1.0, 100);
        write_npy(&p, &a).unwrap();
        let bytes = fs::read(&p).unwrap();
        fs::write(&p, &bytes[..bytes.len() - 8]).unwrap();
        let e = read_npy::<f64, Ix1>(&p).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
        // header promising a gigantic array
        let mut evil = bytes.clone();
        let text = String::from_utf8_lossy(&evil[10..]).into_owned();
        let pos = text.find("(100,)").unwrap() + 10;
        evil[pos..pos + 6].copy_from_slice(b"(9999)");
        fs::write(&p, &evil).unwrap();
        assert!(read_npy::<f64, Ix1>(&p).is_err());
        // every prefix of a valid file fails cleanly
        for cut in 0..bytes.len() {
            fs::write(&p, &bytes[..cut]).unwrap();
            assert!(read_npy::<f64, Ix1>(&p).is_err());
        }
    }

    #[test]
    fn modes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("run");
        let rd = RunDir::create(&p, OpenMode::Fresh).unwrap();
        let info = RunInfo::new(RunKind::Toy, serde_json::json!({"tasks": 3}), 7);
        rd.write_run_info(&info).unwrap();
        rd.write_npy("losses.npy", &Array1::<f32>::zeros(3))
            .unwrap();
        fs::write(p.join("notes.txt"), "mine").unwrap();
        let e = RunDir::create(&p, OpenMode::Fresh).unwrap_err().to_string();
        assert!(e.contains("--force") && e.contains("--resume"), "{e}");
        let rd = RunDir::create(&p, OpenMode::Resume).unwrap();
        let back = rd.read_run_info().unwrap();
        assert_eq!(
            (back.config, back.seed, back.status),
            (info.config, 7, RunStatus::Running)
        );
        RunDir::create(&p, OpenMode::Force).unwrap();
        assert!(!p.join("run.json").exists());
        assert!(!p.join("losses.npy").exists());
        assert!(p.join("notes.txt").exists());
        // a directory that is not a record is never cleared
        let e = RunDir::create(&p, OpenMode::Force).unwrap_err();
        assert!(matches!(e, RecordError::NotARecord(_)));
        let e = RunDir::create(dir.path().join("none"), OpenMode::Resume).unwrap_err();
        assert!(matches!(e, RecordError::NothingToResume(_)));
    }

    #[test]
    fn run_info_json() {
        let mut info = RunInfo::new(
            RunKind::Llm,
            serde_json::json!({"lr": 0.001, "tasks": 25}),
            1,
        );
        info.metrics.recovery_score = vec![Some(0.5), None];
        info.metrics.online_loss_mean = Some(f64::NAN);
        info.describe_array("losses.npy", "x");
        info.finish(RunStatus::Diverged);
        info.diverged_at_episode = Some(4);
        let text = serde_json::to_string(&info).unwrap();
        assert!(text.contains("\"status\":\"diverged\""));
        assert!(text.contains("\"recovery_score\":[0.5,null]"));
        assert!(text.contains("\"online_loss_mean\":null"));
        let back: RunInfo = serde_json::from_str(&text).unwrap();
        assert_eq!(back.metrics.online_loss_mean, None);
        assert_eq!(back.diverged_at_episode, Some(4));
        assert_eq!(
            info.config_diff(&serde_json::json!({"lr": 0.01, "tasks": 25, "x": 1})),
            vec!["lr".to_string(), "x".to_string()]
        );
    }

    #[test]
    fn rfc3339_known_values() {
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400.0), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_462_100.5), "2026-11-23T19:28:20Z");
    }
}
