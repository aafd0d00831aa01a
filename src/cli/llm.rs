//! The LLM half as a separate executable. `reawaken` itself links no libtorch, so the
//! commands without tensors (`toy`, `figures`, `sweep`, `--help`) start in milliseconds;
//! `reawaken llm …` runs `reawaken-llm` in its place (same process id, same arguments,
//! so signals, exit status and Slurm's accounting are the child's own), and `sweep plan`
//! asks it to check `llm probe` settings. See docs/architecture.md.
use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Context;

/// The variable that names the LLM executable when it is not next to `reawaken`.
pub const LLM_EXE_VAR: &str = "REAWAKEN_LLM";

/// The file name of the LLM executable.
const LLM_EXE: &str = "reawaken-llm";

/// Where the LLM executable is: `$REAWAKEN_LLM`, else next to this executable (where
/// `cargo build` and `cargo install` put both).
pub fn llm_executable() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os(LLM_EXE_VAR).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        anyhow::ensure!(
            path.is_file(),
            "{LLM_EXE_VAR}={} is not a file; point it at the reawaken-llm executable",
            path.display()
        );
        return Ok(path);
    }
    let me = std::env::current_exe().context("cannot find the reawaken executable's path")?;
    let path = me.with_file_name(LLM_EXE);
    anyhow::ensure!(
        path.is_file(),
        "the LLM half of reawaken (the `{LLM_EXE}` executable, which links libtorch) is not installed next to {}: build it with `cargo build --release` in the repository after scripts/setup.sh (it builds both executables), or set {LLM_EXE_VAR} to its path",
        me.display()
    );
    Ok(path)
}

/// Makes sure this process (`reawaken-llm`) runs with an OpenMP wait setting: libgomp
/// reads it only when it is loaded, before `main`, so when the environment has none
/// ([`reawaken_analysis::cpus::OPENMP_SPIN`]) this sets it and runs the executable again
/// in this process's place. `reawaken llm` sets it before it starts this executable, so
/// only a direct start pays the second start. Returns if nothing needs doing, or if the
/// executable cannot be run again (then the run goes on with libgomp's default).
pub fn ensure_openmp_wait_setting() {
    if reawaken_analysis::cpus::openmp_spin_to_set().is_none() {
        return;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let Ok(me) = std::env::current_exe() else {
            return;
        };
        let mut args = std::env::args_os();
        let mut cmd = llm_command(&me);
        if let Some(arg0) = args.next() {
            cmd.arg0(arg0);
        }
        let err = cmd.args(args).exec();
        let (var, value) = reawaken_analysis::cpus::OPENMP_SPIN;
        eprintln!(
            "warning: cannot run {} again with {var}={value} ({err}); OpenMP threads keep libgomp's default wait",
            me.display()
        );
    }
}

/// A command that starts the LLM executable `exe` with the OpenMP wait setting it would
/// otherwise run itself again to get ([`ensure_openmp_wait_setting`]).
fn llm_command(exe: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(exe);
    if let Some((var, value)) = reawaken_analysis::cpus::openmp_spin_to_set() {
        cmd.env(var, value);
    }
    cmd
}

/// `reawaken [--log L] llm ARGS…`: replaces this process with `reawaken-llm [--log L] ARGS…`.
/// Returns only if that cannot be done.
pub fn run_llm_executable(log: Option<&str>, args: &[OsString]) -> anyhow::Result<()> {
    let exe = llm_executable()?;
    let mut cmd = llm_command(&exe);
    if let Some(level) = log {
        cmd.arg("--log").arg(level);
    }
    cmd.args(args);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let err = cmd.exec();
        Err(err).with_context(|| format!("cannot run {}", exe.display()))
    }
    #[cfg(not(unix))]
    {
        let status = cmd
            .status()
            .with_context(|| format!("cannot run {}", exe.display()))?;
        std::process::exit(status.code().unwrap_or(1));
    }
}

/// `llm probe`'s own check of each settings table (`reawaken-llm check-settings`, one
/// process for all of them): the resolved settings, or why a table is refused.
pub fn check_probe_settings(
    tables: &[toml::Table],
) -> anyhow::Result<Vec<Result<serde_json::Value, String>>> {
    use std::io::Write;
    let exe = llm_executable()?;
    let mut child = llm_command(&exe)
        .arg("check-settings")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", exe.display()))?;
    let input = serde_json::to_vec(tables)?;
    let mut stdin = child.stdin.take().context("no stdin to reawaken-llm")?;
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child
        .wait_with_output()
        .with_context(|| format!("cannot run {}", exe.display()))?;
    let _ = writer.join();
    anyhow::ensure!(
        out.status.success(),
        "{} check-settings failed: {}",
        exe.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let answers: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("{} check-settings: unreadable answer", exe.display()))?;
    anyhow::ensure!(
        answers.len() == tables.len(),
        "{} check-settings answered {} of {} tables",
        exe.display(),
        answers.len(),
        tables.len()
    );
    Ok(answers
        .into_iter()
        .map(|mut a| match a.get_mut("ok") {
            Some(v) => Ok(v.take()),
            None => Err(a
                .get("error")
                .and_then(|e| e.as_str())
                .unwrap_or("refused")
                .to_string()),
        })
        .collect())
}
