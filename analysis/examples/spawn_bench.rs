//! How soon a thread starts when the thread that spawns it goes on computing, both sides
//! in one process: `std::thread::Scope::spawn` against `parallel::spawn_beside`. Each
//! round spawns a thread that notes when it starts, then keeps the spawning thread busy
//! for 3 ms; also times two 3 ms jobs, one on each thread. Medians of the rounds.
//!
//! ```text
//! cargo run --release -p reawaken-analysis --example spawn_bench [-- ROUNDS]
//! ```

use std::time::{Duration, Instant};

use reawaken_analysis::parallel::spawn_beside;

/// Computes for `d` without sleeping.
fn busy(d: Duration) {
    let t = Instant::now();
    let mut x = 0u64;
    while t.elapsed() < d {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// (start delay, both jobs done, the spawn call) in microseconds, for one round.
fn round(beside: bool) -> (f64, f64, f64) {
    let job = Duration::from_millis(3);
    let t0 = Instant::now();
    std::thread::scope(|s| {
        let started = move || {
            let at = t0.elapsed();
            busy(job);
            at
        };
        let h = if beside {
            spawn_beside(s, started)
        } else {
            s.spawn(started)
        };
        let call = t0.elapsed();
        busy(job);
        let at = h.join().expect("the thread");
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        (us(at), us(t0.elapsed()), us(call))
    })
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(31);
    println!(
        "{} cores; {rounds} rounds each, alternating; medians",
        std::thread::available_parallelism().map_or(1, |p| p.get())
    );
    let (mut plain, mut beside) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        plain.push(round(false));
        beside.push(round(true));
    }
    for (name, v) in [("scope.spawn", &plain), ("spawn_beside", &beside)] {
        println!(
            "{name:>13}: the call {:6.1} us; started after {:7.1} us; two 3 ms jobs done in {:7.1} us",
            median(v.iter().map(|r| r.2).collect()),
            median(v.iter().map(|r| r.0).collect()),
            median(v.iter().map(|r| r.1).collect())
        );
    }
    let ratio =
        median(plain.iter().map(|r| r.1).collect()) / median(beside.iter().map(|r| r.1).collect());
    println!("two jobs: scope.spawn / spawn_beside = {ratio:.2}x");
}
