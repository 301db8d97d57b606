//! `flicker new` and `flicker build`: operator projects in Rust, Python or JavaScript, from an
//! empty folder to a component.

use crate::report::human;
use flicker_project::Project;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args)]
pub struct BuildArgs {
    /// The project's folder (holding its Cargo.toml, pyproject.toml or package.json).
    #[arg(default_value = ".")]
    dir: PathBuf,
}

/// `flicker build`: runs the project's builder and prints the component's path and size.
pub fn build(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let project = Project::open(&args.dir)?;
    let started = Instant::now();
    let built = project.build()?;
    let kind = project.kind.map_or(String::new(), |kind| format!(" {kind}"));
    println!(
        "built {} ({}, a {}{kind} operator, in {:.1} s)",
        built.wasm.display(),
        human(built.bytes),
        project.language,
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
