//! `llm probe`'s run loop: opens (or resumes) the record, trains the episodes, lets the
//! recorders record, makes safe points, and writes how the run ended. The loop itself is
//! [`run_probe`]; what happens before and after it is in the small functions below it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reawaken_analysis::record::{self, Metrics, OpenMode, RunDir, RunInfo, RunKind, RunStatus};
use reawaken_analysis::settings::RESUME_MAY_DIFFER;
use serde::Serialize;

use crate::probe::checkpoint::{self, CheckpointState, LossRecord, SafePoints};
use crate::probe::config::ProbeConfig;
use crate::probe::documents::TaskDoc;
use crate::probe::error::{ProbeError, Result};
use crate::probe::progress;
use crate::probe::recorders::{self, At, Recorder};
use crate::probe::setup::{self, Plan};
use crate::probe::trainer::{CausalLm, Trainer};
use reawaken_analysis::cpus::{self, CpuLease};
use reawaken_analysis::interrupt::Stop;

/// How the record directory is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartMode {
    Fresh,
    Force,
    Resume,
}

/// What a finished (or stopped) run reports.
#[derive(Debug, Clone)]
pub struct ProbeSummary {
    pub out: PathBuf,
    pub status: RunStatus,
    pub episodes_done: usize,
    pub episodes_total: usize,
    pub metrics: Metrics,
    pub message: Option<String>,
    pub interrupted: bool,
    pub elapsed_s: f64,
    pub files: Vec<String>,
}

/// How the episode loop ended.
enum End {
    Complete,
    Interrupted(Stop),
    Diverged { episode: usize, message: String },
}

impl End {
    /// A training step of episode `s` (0-based) gave a non-finite loss.
    fn training_diverged(loss: f64, step: usize, s: usize, task: i64) -> Self {
        End::Diverged {
            episode: s + 1,
            message: format!(
                "training loss became {loss} at step {} of episode {} (task {task}); try a smaller --lr",
                step + 1,
                s + 1
            ),
        }
    }

    /// After episode `s` (0-based) the loss of `task` was not finite.
    fn loss_not_finite(task: usize, s: usize) -> Self {
        End::Diverged {
            episode: s + 1,
            message: format!(
                "the loss of task {task} became non-finite after episode {} (the row is kept in losses.npy); try a smaller --lr",
                s + 1
            ),
        }
    }
}

/// Runs (or resumes) a probe and writes its record to `out`.
pub fn run_probe(
    mut cfg: ProbeConfig,
    out: &Path,
    mode: StartMode,
    show_progress: bool,
) -> Result<ProbeSummary> {
    let t0 = Instant::now();
    let cpu_at_start = cpus::CpuTimes::read();
    let plan = setup::prepare(&mut cfg)?;
    if let Some(stop) = Stop::received() {
        return Err(ProbeError::Input(format!(
            "stopped by {} before the run started; nothing was written",
            stop.name()
        )));
    }
    let _cores = claim_cores(&plan, out, mode, cpu_at_start.as_ref());
    let total = plan.episodes.len();
    let (dir, info, resume) = match open_record(&cfg, out, mode, total)? {
        Opened::AlreadyComplete(summary) => return Ok(summary),
        Opened::Ready(dir, info, resume) => (dir, *info, resume),
    };
    train(&cfg, &plan, &dir, info, resume, t0, show_progress).map_err(|e| mark_failed(&dir, e))
}

/// The CPU threads of a CPU run (`reawaken_analysis::cpus`; docs/llm-probe.md, "Several
/// runs at once"): `OMP_NUM_THREADS` when given; when resuming, the count the run started
/// with, so that it continues bit for bit; otherwise one per core that no other reawaken
/// run holds and no other process kept busy while this one set itself up (from
/// `cpu_at_start` on, at least 0.1 s), at least one — so that a run started beside other
/// work does not spin against it. The cores used are held until the run ends.
fn claim_cores(
    plan: &Plan,
    out: &Path,
    mode: StartMode,
    cpu_at_start: Option<&cpus::CpuTimes>,
) -> Option<CpuLease> {
    if plan.model.device() != tch::Device::Cpu {
        return None;
    }
    let given = std::env::var("OMP_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0);
    if let Some(n) = given {
        return Some(cpus::take_free(n));
    }
    let started_with = match mode {
        StartMode::Resume => record::read_json::<RunInfo>(out.join(record::RUN_JSON))
            .ok()
            .and_then(|i| i.extra.get("cpu_threads").and_then(|v| v.as_u64()))
            .map(|n| n as usize)
            .filter(|&n| n > 0),
        _ => None,
    };
    if let Some(n) = started_with {
        let lease = cpus::take_free(n);
        tch::set_num_threads(n as i32);
        return Some(lease);
    }
    let cores = cpus::cores();
    let busy = cpu_at_start.and_then(|t| cpus::others_busy(t, Duration::from_millis(100)));
    let want = busy.map_or(cores, cpus::free_cores);
    let lease = cpus::take_free(want);
    let threads = lease.held().max(1);
    if threads < cores {
        let mut why = Vec::new();
        if let Some(b) = busy.filter(|_| want < cores) {
            why.push(format!("other processes kept {b:.1} of them busy"));
        }
        if lease.held() < want {
            why.push(format!(
                "{} held by other reawaken runs {:?}",
                want - lease.held(),
                cpus::holders(cores)
            ));
        }
        tracing::warn!(
            "this run uses {threads} of the {cores} CPU cores ({}), so as not to spin against the rest (recorded in run.json cpu_threads; OMP_NUM_THREADS fixes the count)",
            why.join("; ")
        );
    }
    tch::set_num_threads(threads as i32);
    Some(lease)
}

/// The run from an opened record to its end (the episode loop).
fn train(
    cfg: &ProbeConfig,
    plan: &Plan,
    dir: &RunDir,
    mut info: RunInfo,
    resume: Option<CheckpointState>,
    t0: Instant,
    show_progress: bool,
) -> Result<ProbeSummary> {
    let total = plan.episodes.len();
    let trainer = Trainer::new(&plan.model, plan.train.clone(), plan.eval_tokens())?;
    let mut recs = recorders::build(cfg, plan, &trainer)?;
    write_tasks_json(dir, cfg, plan)?;
    let resume = resume.as_ref();
    let (mut losses, prior_s) = begin(dir, &mut info, cfg, plan, &trainer, &mut recs, resume)?;
    let mut safe_points = SafePoints::new(cfg.checkpoint_every);
    if resume.is_none() {
        // The safe point at episode 0.
        safe_points.take(|| safe_point(dir, &mut info, &trainer, &losses, &mut recs))?;
    }

    let start = losses.done();
    let watch = acts_watch(cfg);
    let mut bar = progress::Progress::new(total, start, show_progress);
    let mut end = End::Complete;
    for s in start..total {
        if let Some(stop) = Stop::received() {
            end = End::Interrupted(stop);
            break;
        }
        let ep = plan.episodes[s];
        let outcome = timed(&mut info, "train", || {
            trainer.train_episode(plan.tokens(ep), s)
        })?;
        if let Some(step) = outcome.diverged_at_step {
            end = End::training_diverged(outcome.last_loss, step, s, ep.order_value());
            break;
        }
        let (row, acts) = timed(&mut info, "evaluate", || trainer.evaluate(watch))?;
        let bad = row.iter().position(|v| !v.is_finite());
        losses.push(row, ep.order_value());
        let at = At {
            trainer: &trainer,
            dir,
            done: s + 1,
            acts: acts.as_ref(),
        };
        for r in recs.iter_mut() {
            let name = r.name();
            timed(&mut info, name, || r.after_episode(&at, bad.is_none()))?;
        }
        if let Some(task) = bad {
            end = End::loss_not_finite(task, s);
            break;
        }
        bar.episode_done(s + 1, outcome.last_loss);
        if safe_points.due(s + 1 - start) && s + 1 < total {
            safe_points.take(|| safe_point(dir, &mut info, &trainer, &losses, &mut recs))?;
        }
    }
    bar.finish();
    let elapsed_s = prior_s + t0.elapsed().as_secs_f64();
    info.extra
        .insert("elapsed_before_resume_s".into(), serde_json::json!(prior_s));
    conclude(
        end, dir, info, &trainer, &losses, &mut recs, elapsed_s, total,
    )
}

/// A safe point: the checkpoint of the episodes done so far, then `run.json` saying how
/// many that is (what `--resume` and `sweep status` read) unless it says so already (the
/// safe point at episode 0, after `begin` wrote it).
fn safe_point<M: CausalLm>(
    dir: &RunDir,
    info: &mut RunInfo,
    trainer: &Trainer<'_, M>,
    losses: &LossRecord,
    recs: &mut [Box<dyn Recorder<M>>],
) -> Result<()> {
    timed(info, "safe points", || {
        checkpoint::save(dir, trainer, losses, recs)
    })?;
    let done = Some(losses.done());
    if info.episodes_done == done {
        return Ok(());
    }
    info.episodes_done = done;
    dir.write_run_info(info).map_err(ProbeError::from)
}

/// The task whose hidden states the evaluations keep for the `acts` recorder, if it runs.
fn acts_watch(cfg: &ProbeConfig) -> Option<usize> {
    cfg.record.acts.then_some(cfg.acts_task)
}

/// Runs `f` and adds its wall time to `part` of the run's time profile (`run.json`
/// `timings.parts_s`: training, evaluation, each recorder, safe points; summed over the
/// sessions of a resumed run). What the parts leave of `elapsed_s` is set-up.
fn timed<T>(info: &mut RunInfo, part: &str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    let secs = t.elapsed().as_secs_f64();
    let parts = info
        .timings
        .extra
        .entry("parts_s".to_string())
        .or_insert_with(|| serde_json::json!({}));
    if let Some(parts) = parts.as_object_mut() {
        let sum = parts.get(part).and_then(|v| v.as_f64()).unwrap_or(0.0) + secs;
        parts.insert(part.to_string(), serde_json::json!(sum));
    }
    out
}

/// Marks the record `failed` with the error and what can be done next (best effort: a
/// full disk may refuse even that), and returns the error saying the same.
fn mark_failed(dir: &RunDir, e: ProbeError) -> ProbeError {
    let next = match checkpoint::load(dir) {
        Ok(Some(s)) => format!(
            "the last safe point is after episode {}: continue with --resume",
            s.episodes_done
        ),
        _ => "start it again with --force".to_string(),
    };
    match dir.read_run_info() {
        Ok(mut info) => {
            info.message = Some(format!("{e}; {next}"));
            info.finish(RunStatus::Failed);
            if let Err(w) = dir.write_run_info(&info) {
                tracing::warn!("cannot mark the record failed: {w}");
            }
        }
        Err(w) => tracing::warn!("cannot mark the record failed: {w}"),
    }
    ProbeError::RunFailed {
        error: Box::new(e),
        next,
    }
}

/// The record directory, opened as `mode` says.
enum Opened {
    /// `--resume` of a run that is already complete: nothing to do.
    AlreadyComplete(ProbeSummary),
    /// The record to write, its `run.json` so far, and the safe point to resume from.
    Ready(RunDir, Box<RunInfo>, Option<CheckpointState>),
}

fn config_json(cfg: &ProbeConfig) -> Result<serde_json::Value> {
    serde_json::to_value(cfg)
        .map_err(|e| ProbeError::Input(format!("cannot record the configuration: {e}")))
}

fn open_record(cfg: &ProbeConfig, out: &Path, mode: StartMode, total: usize) -> Result<Opened> {
    let config = config_json(cfg)?;
    if mode != StartMode::Resume {
        let open = if mode == StartMode::Force {
            OpenMode::Force
        } else {
            OpenMode::Fresh
        };
        let dir = RunDir::create(out, open)?;
        checkpoint::remove(&dir)?;
        let info = RunInfo::new(RunKind::Llm, config, cfg.seed);
        // run.json first: whatever happens next, the folder is a record that --force can
        // replace and --resume can restart.
        dir.write_run_info(&info)?;
        return Ok(Opened::Ready(dir, Box::new(info), None));
    }
    let dir = RunDir::create(out, OpenMode::Resume)?;
    let info = dir.read_run_info()?;
    let refuse = |why: String| {
        Err(ProbeError::Resume(format!(
            "cannot resume {}: {why}",
            out.display()
        )))
    };
    if info.kind != RunKind::Llm {
        return refuse("it is not an `llm probe` record".into());
    }
    let diff: Vec<String> = info
        .config_diff(&config)
        .into_iter()
        .filter(|k| !RESUME_MAY_DIFFER.contains(&k.as_str()))
        .collect();
    if !diff.is_empty() {
        let keys: Vec<String> = diff.iter().map(|k| format!("`{k}`")).collect();
        return refuse(format!(
            "the configuration differs in {} (run it with the recorded settings, or start a new run with --force)",
            keys.join(", ")
        ));
    }
    if info.status == RunStatus::Complete {
        return Ok(Opened::AlreadyComplete(ProbeSummary {
            out: out.to_path_buf(),
            status: info.status,
            episodes_done: info.episodes_done.unwrap_or(total),
            episodes_total: total,
            metrics: info.metrics.clone(),
            message: Some("the run was already complete; nothing to do".into()),
            interrupted: false,
            elapsed_s: info.timings.elapsed_s.unwrap_or(0.0),
            files: info.arrays.keys().cloned().collect(),
        }));
    }
    match checkpoint::load(&dir)? {
        Some(s) if s.episodes_done > total => refuse(format!(
            "the checkpoint is at episode {} but the run has {total}",
            s.episodes_done
        )),
        Some(s) => Ok(Opened::Ready(dir, Box::new(info), Some(s))),
        None => {
            tracing::warn!(
                "{}: no checkpoint yet, starting from episode 0",
                out.display()
            );
            let fresh = RunInfo::new(RunKind::Llm, config, cfg.seed);
            Ok(Opened::Ready(dir, Box::new(fresh), None))
        }
    }
}

/// Brings the trainer, the loss record and the recorders to episode 0 (a fresh run, whose
/// `info` is new; the caller then makes its first safe point) or to the safe point
/// `resume`. Writes `run.json` with status `running`; returns the loss record and the
/// seconds spent before a resume.
fn begin<M: CausalLm>(
    dir: &RunDir,
    info: &mut RunInfo,
    cfg: &ProbeConfig,
    plan: &Plan,
    trainer: &Trainer<'_, M>,
    recs: &mut [Box<dyn Recorder<M>>],
    resume: Option<&CheckpointState>,
) -> Result<(LossRecord, f64)> {
    warn_on_thread_change(info, trainer);
    let (losses, prior_s) = match resume {
        Some(state) => {
            let s = state.episodes_done;
            checkpoint::restore_params(dir, state, trainer)?;
            let at = At {
                trainer,
                dir,
                done: s,
                acts: None,
            };
            for r in recs.iter_mut() {
                r.resume(&at, state.recorders.get(r.name()))?;
            }
            let before = info
                .extra
                .get("elapsed_before_resume_s")
                .and_then(|v| v.as_f64());
            let prior =
                before.unwrap_or(0.0) + (record::unix_now() - info.timings.started_unix).max(0.0);
            tracing::info!(
                "resuming {} at episode {s} of {}",
                dir.path().display(),
                plan.episodes.len()
            );
            let losses = LossRecord::resume(dir, cfg.tasks, s)?;
            checkpoint::check_losses(dir, state, &losses)?;
            (losses, prior)
        }
        None => {
            let (row0, acts) = trainer.evaluate(acts_watch(cfg))?;
            let at = At {
                trainer,
                dir,
                done: 0,
                acts: acts.as_ref(),
            };
            for r in recs.iter_mut() {
                r.start(&at)?;
            }
            (
                LossRecord {
                    tasks: cfg.tasks,
                    losses: vec![row0],
                    order: Vec::new(),
                },
                0.0,
            )
        }
    };
    annotate(info, cfg, plan, trainer, recs);
    info.status = RunStatus::Running;
    info.episodes_done = Some(losses.done());
    dir.write_run_info(info)?;
    Ok((losses, prior_s))
}

/// CPU kernels split work by thread count, so the last bits of a result depend on it.
fn warn_on_thread_change<M: CausalLm>(info: &RunInfo, trainer: &Trainer<'_, M>) {
    let threads = tch::get_num_threads();
    let prev = info.extra.get("cpu_threads").and_then(|v| v.as_i64());
    if let Some(prev) = prev.filter(|&p| p != i64::from(threads)) {
        if trainer.device() == tch::Device::Cpu {
            tracing::warn!(
                "this run was started with {prev} CPU threads and continues with {threads}: later episodes may differ from an uninterrupted run in the last bits (set OMP_NUM_THREADS={prev} for an exact continuation)"
            );
        }
    }
}

/// The array descriptions and the run facts of `run.json` (model, threads, recorders).
fn annotate<M: CausalLm>(
    info: &mut RunInfo,
    cfg: &ProbeConfig,
    plan: &Plan,
    trainer: &Trainer<'_, M>,
    recs: &[Box<dyn Recorder<M>>],
) {
    info.describe_array(
        "losses.npy",
        "float32 (episodes+1, T): mean next-token loss of every task after s episodes (row 0 = before training)",
    );
    info.describe_array(
        "order.npy",
        "int64 (episodes,): task trained in episode s (leads to row s+1); -1 = one-off random document",
    );
    let mc = plan.model.config.shape();
    let source = cfg.model.as_ref().map_or_else(
        || format!("preset {} ({} init)", cfg.preset, cfg.resolved_init()),
        |p| p.display().to_string(),
    );
    let extra = [
        ("episodes_total", serde_json::json!(plan.episodes.len())),
        ("cpu_threads", serde_json::json!(tch::get_num_threads())),
        (
            "openmp_wait",
            serde_json::json!(reawaken_analysis::cpus::openmp_wait_env()),
        ),
        (
            "model",
            serde_json::json!({
                "source": source,
                "model_type": plan.model.config.model_type(),
                "parameters": plan.model.num_parameters(),
                "width": mc.width,
                "depth": mc.depth,
                "heads": mc.heads,
                "intermediate_size": mc.intermediate,
                "vocab": mc.vocab,
                "device": format!("{:?}", trainer.device()),
            }),
        ),
    ];
    for (k, v) in extra {
        info.extra.insert(k.into(), v);
    }
    for r in recs {
        for (file, what) in r.describe() {
            info.describe_array(file, &what);
        }
        for (k, v) in r.info() {
            info.extra.insert(k.into(), v);
        }
    }
}

/// `tasks.json`: which document each task is.
fn write_tasks_json(dir: &RunDir, cfg: &ProbeConfig, plan: &Plan) -> Result<()> {
    #[derive(Serialize)]
    struct TasksJson<'a> {
        tokenizer: &'a str,
        context: usize,
        tasks: Vec<serde_json::Value>,
        one_off_documents: Vec<serde_json::Value>,
    }
    let list = |docs: &[TaskDoc]| -> Vec<serde_json::Value> {
        docs.iter()
            .enumerate()
            .map(|(i, d)| {
                serde_json::json!({"task": i, "source": d.source, "document_index": d.doc_index,
                    "excerpt": d.excerpt, "tokens": d.tokens_total, "eval_start": d.eval_start, "tokens_used": d.eval_tokens})
            })
            .collect()
    };
    dir.write_json(
        "tasks.json",
        &TasksJson {
            tokenizer: &plan.tokenizer_desc,
            context: cfg.context,
            tasks: list(&plan.tasks),
            one_off_documents: list(&plan.extra),
        },
    )?;
    Ok(())
}

/// Writes how the run ended: a safe point (interrupted), or the final arrays, metrics and
/// status (complete / diverged).
#[allow(clippy::too_many_arguments)]
fn conclude<M: CausalLm>(
    end: End,
    dir: &RunDir,
    mut info: RunInfo,
    trainer: &Trainer<'_, M>,
    losses: &LossRecord,
    recs: &mut [Box<dyn Recorder<M>>],
    elapsed_s: f64,
    total: usize,
) -> Result<ProbeSummary> {
    let done = losses.done();
    let interrupted = matches!(end, End::Interrupted(_));
    let status = match end {
        End::Interrupted(stop) => {
            checkpoint::save(dir, trainer, losses, recs)?;
            for r in recs.iter() {
                r.save(dir)?;
            }
            info.message = Some(format!(
                "stopped by {} after episode {done} of {total}; continue with --resume",
                stop.name()
            ));
            info.finish(RunStatus::Interrupted);
            RunStatus::Interrupted
        }
        end => {
            let complete = matches!(end, End::Complete);
            losses.save(dir)?;
            for r in recs.iter_mut() {
                let name = r.name();
                timed(&mut info, name, || {
                    let at = At {
                        trainer,
                        dir,
                        done,
                        acts: None,
                    };
                    r.finish(&at, complete)
                })?;
            }
            checkpoint::remove(dir)?;
            if let End::Diverged { episode, message } = end {
                info.diverged_at_episode = Some(episode);
                info.message = Some(message);
            }
            info.finish(if complete {
                RunStatus::Complete
            } else {
                RunStatus::Diverged
            });
            info.timings.elapsed_s = Some(elapsed_s);
            info.status
        }
    };
    info.episodes_done = Some(done);
    info.metrics = Metrics::compute(&losses.matrix(), &losses.order)?;
    // Only the arrays the record really holds are described.
    info.arrays.retain(|f, _| dir.has(f));
    dir.write_run_info(&info)?;
    Ok(ProbeSummary {
        out: dir.path().to_path_buf(),
        status,
        episodes_done: done,
        episodes_total: total,
        metrics: info.metrics.clone(),
        message: info.message.clone(),
        interrupted,
        elapsed_s,
        files: info.arrays.keys().cloned().collect(),
    })
}
