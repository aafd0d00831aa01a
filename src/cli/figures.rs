//! `reawaken figures` subcommand (skeleton; owned by the figures work).
#[derive(clap::Args, Debug)]
pub struct RenderArgs {}
pub fn run(_args: RenderArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
