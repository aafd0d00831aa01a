//! The run loop: orders, recording of losses and points, stability and finiteness checks.

use ndarray::{s, Array2, Array3};
use rand::seq::SliceRandom;

use crate::config::{unstable_message, Order, ToyConfig, RUNAWAY_FACTOR, UNSTABLE_STEP_FACTOR};
use crate::dynamics::{Dynamics, FastState};
use crate::error::ToyError;
use crate::problem::{rng, stream, ToyProblem};
use crate::run::ToyRun;

/// The task order of a configuration: T·E task indices.
/// Cyclic: 0..T−1 every epoch. Shuffled: a new permutation every epoch, drawn from the
/// seed's ORDER stream (independent of the data draws).
pub fn make_order(cfg: &ToyConfig) -> Vec<usize> {
    let t = cfg.tasks;
    let mut order = Vec::with_capacity(cfg.episodes());
    let mut r = rng(cfg.seed, stream::ORDER);
    let mut perm: Vec<usize> = (0..t).collect();
    for _ in 0..cfg.epochs {
        match cfg.order {
            Order::Cyclic => order.extend(0..t),
            Order::Shuffled => {
                perm.shuffle(&mut r);
                order.extend_from_slice(&perm);
            }
            Order::PrequentialShuffled => {
                perm[1..].shuffle(&mut r);
                order.extend_from_slice(&perm);
            }
        }
    }
    order
}

/// Refuses a problem whose step factor max_i α‖x_i‖² is ≥ 1 (see
/// [`UNSTABLE_STEP_FACTOR`]); returns the factor otherwise.
pub fn check_stability(problem: &ToyProblem) -> Result<f64, ToyError> {
    let (task, f) = problem.step_factor_max();
    if f.is_nan() || f >= UNSTABLE_STEP_FACTOR {
        let scale = problem.loss_scale;
        let lr = problem.lr / scale;
        return Err(ToyError::Unstable {
            lr,
            input_dim: problem.input_dim(),
            task,
            step_factor: f,
            message: unstable_message(lr, scale, problem.input_dim(), f, Some(task)),
        });
    }
    Ok(f)
}

/// Simulates a configuration (docs/toy-model.md) with the fast projection-space dynamics.
///
/// `on_episode(s)` is called after every episode with the number of episodes done
/// (for a progress bar). Errors: [`ToyError::InvalidConfig`] / [`ToyError::Unstable`]
/// before any work, [`ToyError::NonFinite`] (carrying the finite part of the run) if a loss
/// ever becomes inf/NaN.
pub fn simulate(cfg: &ToyConfig, on_episode: &mut dyn FnMut(usize)) -> Result<ToyRun, ToyError> {
    cfg.validate()?;
    let problem = ToyProblem::sample(cfg);
    let order = make_order(cfg);
    run_with_order(&problem, &order, cfg.steps, on_episode)
}

/// Runs a given problem in a given order with the fast dynamics: `steps` (K ≥ 1) steps
/// per episode, one episode per entry of `order`. Points are recorded at episode 0 and
/// after every T episodes.
pub fn run_with_order(
    problem: &ToyProblem,
    order: &[usize],
    steps: usize,
    on_episode: &mut dyn FnMut(usize),
) -> Result<ToyRun, ToyError> {
    check_stability(problem)?;
    let mut state = FastState::new(problem)?;
    run_with(&mut state, problem, order, steps, on_episode)
}

fn scale_losses(mut row: ndarray::ArrayViewMut1<f64>, scale: f64) {
    if scale != 1.0 {
        row *= scale;
    }
}

fn all_finite<'a>(mut v: impl Iterator<Item = &'a f64>) -> bool {
    v.all(|x| x.is_finite())
}

/// The most losses one call of [`Dynamics::episodes`] computes (its accumulators stay
/// small: 32 768 × 40 bytes).
const CHUNK_LOSSES: usize = 1 << 15;

/// Refuses a problem that does not fit together, no step per episode, or an order naming
/// a task that does not exist.
fn check_inputs(problem: &ToyProblem, order: &[usize], steps: usize) -> Result<(), ToyError> {
    problem.check()?;
    let t = problem.tasks();
    if steps == 0 {
        return Err(ToyError::InvalidProblem(
            "steps per episode must be at least 1".into(),
        ));
    }
    if let Some(&bad) = order.iter().find(|&&i| i >= t) {
        return Err(ToyError::InvalidProblem(format!(
            "order names task {bad}, but there are only {t} tasks (0..{})",
            t - 1
        )));
    }
    Ok(())
}

/// The run loop shared by the fast path and the explicit reference.
pub fn run_with(
    state: &mut dyn Dynamics,
    problem: &ToyProblem,
    order: &[usize],
    steps: usize,
    on_episode: &mut dyn FnMut(usize),
) -> Result<ToyRun, ToyError> {
    check_inputs(problem, order, steps)?;
    let t = problem.tasks();
    let m = problem.embed_dim();
    // The stability check is the callers' (`run_with_order`, `simulate_explicit`); the
    // loop itself still ends any run that runs away.
    let step_factor_max = problem.step_factor_max().1;
    let episodes = order.len();
    let snapshots = episodes / t + 1;
    let mut losses = Array2::<f64>::zeros((episodes + 1, t));
    let mut points = Array3::<f64>::zeros((snapshots, t, m));
    state.points_into(points.slice_mut(s![0, .., ..]));
    state.losses_into(losses.row_mut(0));
    scale_losses(losses.row_mut(0), problem.loss_scale);

    // The run up to loss row `rows - 1` (and the trainings that led there).
    let partial = |rows: usize, losses: &Array2<f64>, points: &Array3<f64>, snaps: usize| {
        Box::new(ToyRun {
            losses: losses.slice(s![..rows, ..]).to_owned(),
            order: order[..rows.saturating_sub(1)].to_vec(),
            points: points.slice(s![..snaps, .., ..]).to_owned(),
            step_factor_max,
            init_method: problem.init_method,
        })
    };
    let diverged = |episode: usize, losses: &Array2<f64>, points: &Array3<f64>, snaps: usize| {
        ToyError::NonFinite {
            episode,
            partial: partial(episode, losses, points, snaps),
        }
    };
    // Only snapshot 0 so far: reading the others (zeros not yet touched) would map them
    // to the kernel's zero page, and each first write then costs a copy-on-write fault
    // and a TLB flush on every core (a tenth of the samples at N = M = 1000, T = 25).
    if !all_finite(losses.row(0).iter()) || !all_finite(points.slice(s![0, .., ..]).iter()) {
        return Err(diverged(0, &losses, &points, 0));
    }
    let initial_max = losses.row(0).fold(0.0f64, |m, &v| m.max(v));
    let runaway_bound = RUNAWAY_FACTOR * initial_max.max(f64::MIN_POSITIVE);
    let mut snaps = 1;
    let mut done = 0;
    while done < episodes {
        // Up to the next snapshot (the end of an epoch) in one pass over the state, at most
        // CHUNK_LOSSES losses at a time.
        let end = ((done / t + 1) * t)
            .min(done + (CHUNK_LOSSES / t).max(1))
            .min(episodes);
        state.episodes(
            &order[done..end],
            steps,
            losses.slice_mut(s![done + 1..end + 1, ..]),
        );
        for episode in done + 1..=end {
            scale_losses(losses.row_mut(episode), problem.loss_scale);
            if !all_finite(losses.row(episode).iter()) {
                return Err(diverged(episode, &losses, &points, snaps));
            }
            let max_loss = losses.row(episode).fold(0.0f64, |m, &v| m.max(v));
            if max_loss > runaway_bound {
                return Err(ToyError::Runaway {
                    episode,
                    max_loss,
                    initial_max,
                    partial: partial(episode + 1, &losses, &points, snaps),
                });
            }
            on_episode(episode);
        }
        if end.is_multiple_of(t) {
            state.points_into(points.slice_mut(s![snaps, .., ..]));
            if !all_finite(points.slice(s![snaps, .., ..]).iter()) {
                return Err(diverged(end, &losses, &points, snaps));
            }
            snaps += 1;
        }
        done = end;
        if let Some(stop) = reawaken_analysis::interrupt::Stop::received() {
            if done < episodes {
                return Err(ToyError::Interrupted {
                    signal: stop.name(),
                    episode: done,
                    partial: partial(done + 1, &losses, &points, snaps),
                });
            }
        }
    }
    Ok(ToyRun {
        losses,
        order: order.to_vec(),
        points,
        step_factor_max,
        init_method: problem.init_method,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_are_permutations_of_the_tasks_every_epoch() {
        for order in [Order::Cyclic, Order::Shuffled, Order::PrequentialShuffled] {
            let cfg = ToyConfig {
                tasks: 7,
                epochs: 5,
                order,
                seed: 3,
                ..ToyConfig::default()
            };
            let o = make_order(&cfg);
            assert_eq!(o.len(), 35);
            let mut firsts = Vec::new();
            for epoch in o.chunks(7) {
                let mut sorted = epoch.to_vec();
                sorted.sort_unstable();
                assert_eq!(sorted, (0..7).collect::<Vec<_>>(), "{order}");
                firsts.push(epoch[0]);
            }
            match order {
                Order::Cyclic => assert_eq!(o[..7], [0, 1, 2, 3, 4, 5, 6]),
                // Task 0 opens every epoch; the rest is shuffled (not all epochs alike).
                Order::PrequentialShuffled => {
                    assert!(firsts.iter().all(|&f| f == 0));
                    assert!(o.chunks(7).any(|e| e != &o[..7]));
                }
                Order::Shuffled => assert!(o.chunks(7).any(|e| e != &o[..7])),
            }
        }
    }
}
