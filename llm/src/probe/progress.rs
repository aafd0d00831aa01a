//! Progress of a probe run: a bar with ETA on a terminal; plain periodic lines on stderr
//! otherwise (a batch job's log), at most one every 30 s and at every tenth of the run.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Reports episodes done.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    log: Option<LogLines>,
}

struct LogLines {
    total: usize,
    start: usize,
    t0: Instant,
    last: Instant,
    next_tenth: usize,
}

impl Progress {
    /// `total` episodes, `start` already done; nothing is shown when `show` is false.
    pub fn new(total: usize, start: usize, show: bool) -> Self {
        if !show {
            return Progress {
                bar: None,
                log: None,
            };
        }
        if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(total as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} episode {pos}/{len} [{bar:30}] {elapsed_precise} ETA {eta_precise} {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_position(start as u64);
            bar.reset_eta();
            return Progress {
                bar: Some(bar),
                log: None,
            };
        }
        let now = Instant::now();
        let log = LogLines {
            total,
            start,
            t0: now,
            last: now,
            next_tenth: start * 10 / total.max(1) + 1,
        };
        Progress {
            bar: None,
            log: Some(log),
        }
    }

    /// Episode `done` finished with training loss `loss`.
    pub fn episode_done(&mut self, done: usize, loss: f64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
            bar.set_message(format!("train loss {loss:.3}"));
        }
        if let Some(l) = &mut self.log {
            let tenth = done * 10 / l.total.max(1);
            let due = tenth >= l.next_tenth || l.last.elapsed() >= Duration::from_secs(30);
            if due {
                l.next_tenth = tenth + 1;
                l.last = Instant::now();
                let elapsed = l.t0.elapsed().as_secs_f64();
                let rate = elapsed / (done - l.start).max(1) as f64;
                let eta = rate * (l.total - done) as f64;
                eprintln!(
                    "llm probe: episode {done}/{} ({:.0}%), train loss {loss:.3}, elapsed {elapsed:.0} s, ETA {eta:.0} s",
                    l.total,
                    100.0 * done as f64 / l.total.max(1) as f64
                );
            }
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
