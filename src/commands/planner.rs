//! `giot planner train|draft|eval`.

use std::process::ExitCode;

use anyhow::Result;
use giot::cli::PlannerCommand;

pub fn run(cmd: PlannerCommand) -> Result<ExitCode> {
    let _ = cmd;
    anyhow::bail!("the diffusion planner is not built yet")
}
