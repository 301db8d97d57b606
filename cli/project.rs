//! `flicker new` and `flicker build`: operator projects in Rust, Python or JavaScript, from an
//! empty folder to a component.

use crate::report::human;
use anyhow::Context;
use flicker_project::new::{Request, create, default_rust_sdk};
use flicker_project::{Kind, Language, Project};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args)]
pub struct NewArgs {
    /// The project's name: its folder and package name (lowercase letters, digits and `-`).
    name: String,
    /// The operator kind.
    #[arg(long, value_parser = kinds())]
    kind: String,
    /// The language.
    #[arg(long = "lang", value_parser = languages())]
    language: String,
    /// The folder to make the project's folder in.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// For a Rust project: the `flicker-guest` crate it depends on by path (default: the one of
    /// the checkout this flicker was built from).
    #[arg(long)]
    sdk: Option<PathBuf>,
}

fn kinds() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(Kind::ALL.map(Kind::name))
}

fn languages() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(Language::ALL.map(Language::name))
}

/// `flicker new`: writes a ready project and says how to build, run and test it.
pub fn new(args: NewArgs) -> anyhow::Result<ExitCode> {
    let kind = Kind::from_name(&args.kind).context("clap checked the kind")?;
    let language =
        Language::ALL.into_iter().find(|l| l.name() == args.language).context("clap checked the language")?;
    let request = Request {
        name: args.name,
        kind,
        language,
        parent: args.dir,
        rust_sdk: args.sdk.unwrap_or_else(default_rust_sdk),
    };
    let project = create(&request)?;
    println!(
        "created {} (a {language} {kind} operator, a sample job and a test); next:",
        project.dir.display()
    );
    println!("  cd {} && flicker build && flicker run job.toml", project.dir.display());
    Ok(ExitCode::SUCCESS)
}

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
