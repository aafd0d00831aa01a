//! `reawaken figures render`: every figure (docs/figures.md) that the given run records
//! support, drawn by the `reawaken-figures` crate.
use std::path::PathBuf;
use std::time::Instant;

/// Render the paper's figures (SVG) from one or more run records.
///
/// Runs that differ only by seed are averaged (±1 sd band). A run that differs
/// from the first run of its kind only in `--order` becomes the cyclic-vs-shuffled
/// comparison; runs that differ in other config values (width, depth, steps,
/// input-dim, …) become a recovery-score-vs-value sweep. Runs that cannot be used
/// are listed with the reason.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  reawaken figures render --run runs/toy-seed0 --run runs/toy-seed1 \
    --run runs/toy-shuffled --out figures/"
)]
pub struct RenderArgs {
    /// A run record directory (from `toy simulate` or `llm probe`). Repeat for several runs;
    /// the first run of each kind is the reference for comparisons and sweeps.
    #[arg(long = "run", value_name = "DIR", required_unless_present = "sweeps")]
    pub runs: Vec<PathBuf>,
    /// A sweep directory (`reawaken sweep plan`): its complete runs, in the sweep's order
    /// (the first point is the reference), after any --run given. Repeat for several.
    #[arg(long = "sweep", value_name = "DIR")]
    pub sweeps: Vec<PathBuf>,
    /// Output directory for the SVG files [default: <sweep>/figures, else <first run>/figures].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub fn run(mut args: RenderArgs) -> anyhow::Result<()> {
    let start = Instant::now();
    for dir in &args.sweeps {
        let sweep = reawaken_sweep::Sweep::open(dir)?;
        let states = reawaken_sweep::status::states(&sweep);
        let complete: Vec<PathBuf> = sweep
            .manifest
            .runs
            .iter()
            .zip(&states)
            .filter(|(_, s)| **s == reawaken_sweep::RunState::Complete)
            .map(|(e, _)| sweep.path(&e.record))
            .collect();
        if complete.is_empty() {
            anyhow::bail!(
                "no complete run in the sweep {} yet (reawaken sweep status {})",
                dir.display(),
                dir.display()
            );
        }
        if complete.len() < states.len() {
            eprintln!(
                "note: {} of the sweep's {} runs are complete; drawing those",
                complete.len(),
                states.len()
            );
        }
        args.runs.extend(complete);
    }
    let out = match (&args.out, args.sweeps.first()) {
        (Some(o), _) => o.clone(),
        (None, Some(s)) => s.join("figures"),
        (None, None) => args.runs[0].join("figures"),
    };
    let done = reawaken_figures::render(&args.runs, &out)?;
    for (dir, why) in &done.skipped {
        eprintln!("skipped run {}: {why}", dir.display());
    }
    for note in &done.notes {
        tracing::info!("{note}");
        eprintln!("note: {note}");
    }
    if done.files.is_empty() {
        anyhow::bail!(
            "no figure written: none of the {} run(s) given could be used (see the reasons above)",
            args.runs.len()
        );
    }
    for f in &done.files {
        println!("{}", f.display());
    }
    eprintln!(
        "wrote {} figure(s) to {} in {:.2} s",
        done.files.len(),
        out.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
