//! `flicker new` and `flicker build`: operator projects in Rust, Python or JavaScript, from an
//! empty folder to a component.

use crate::report::human;
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
    #[arg(long, value_parser = named(Kind::ALL.map(Kind::name), Kind::from_name))]
    kind: Kind,
    /// The language.
    #[arg(long = "lang", value_parser = named(Language::ALL.map(Language::name), Language::from_name))]
    language: Language,
    /// The folder to make the project's folder in.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// For a Rust project: the `flicker-guest` crate it depends on by path (default: the one of
    /// the checkout this flicker was built from).
    #[arg(long)]
    sdk: Option<PathBuf>,
}

/// A parser of one of `names` (listed in `--help` and in the error for any other) into the value
/// `from_name` gives for it.
fn named<T: Clone + Send + Sync + 'static>(
    names: impl IntoIterator<Item = &'static str>,
    from_name: fn(&str) -> Option<T>,
) -> impl clap::builder::TypedValueParser<Value = T> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(names)
        .try_map(move |name| from_name(&name).ok_or_else(|| format!("unknown name {name:?}")))
}

/// `flicker new`: writes a ready project and says how to build, run and test it.
pub fn new(args: NewArgs) -> anyhow::Result<ExitCode> {
    let NewArgs { name, kind, language, dir, sdk } = args;
    let request =
        Request { name, kind, language, parent: dir, rust_sdk: sdk.unwrap_or_else(default_rust_sdk) };
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
