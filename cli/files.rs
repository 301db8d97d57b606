//! `flicker ls` and `flicker cat`: looking at storage locations, the way flicker sees them.

use crate::config::ConfigFileArgs;
use crate::report;
use crate::run::start_tokio;
use anyhow::Context;
use flicker_storage::{Location, list_all, read_committed, read_part};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct LsArgs {
    /// A location: a path, or a `file://`, `s3://`, `gs://` or `memory://` URL; relative paths
    /// are resolved against the current directory.
    url: String,
    #[command(flatten)]
    file: ConfigFileArgs,
}

#[derive(clap::Args)]
pub struct CatArgs {
    /// A committed output location (it has a `_SUCCESS`).
    url: String,
    /// Print the parts' bytes as they are: for a CSV output, each part's header line too.
    #[arg(long)]
    raw: bool,
    #[command(flatten)]
    file: ConfigFileArgs,
}

/// `url` (relative paths against the current directory) opened with the cluster file's storage
/// settings.
pub(crate) fn location(url: &str, file: &ConfigFileArgs) -> anyhow::Result<Location> {
    let current = std::env::current_dir().context("cannot resolve the current directory")?;
    Ok(Location::parse_with(url, &current, &file.storage()?)?)
}

pub fn ls(args: LsArgs) -> anyhow::Result<ExitCode> {
    let location = location(&args.url, &args.file)?;
    let objects = start_tokio()?.block_on(list_all(&location))?;
    report::print(|out| {
        for object in &objects {
            writeln!(out, "{:>12}  {}", object.size, location.at(object.path.clone()).url())?;
        }
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

pub fn cat(args: CatArgs) -> anyhow::Result<ExitCode> {
    let location = location(&args.url, &args.file)?;
    start_tokio()?.block_on(async {
        let parts = read_committed(&location).await?;
        // Every part of a CSV output opens with the same header: print it once.
        let csv = !args.raw && parts.iter().all(|part| part.name.ends_with(".csv"));
        let mut header: Option<Vec<u8>> = None;
        for part in &parts {
            let bytes = read_part(&location, part).await?;
            let body = match (&header, csv) {
                (_, false) => &bytes[..],
                (None, true) => {
                    header = first_line(&bytes).map(<[u8]>::to_vec);
                    &bytes[..]
                }
                (Some(header), true) => bytes.strip_prefix(header.as_slice()).unwrap_or(&bytes),
            };
            report::print(|out| out.write_all(body))?;
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// The first line of `bytes` with its newline, if it has a whole one.
fn first_line(bytes: &[u8]) -> Option<&[u8]> {
    let end = bytes.iter().position(|&b| b == b'\n')?;
    Some(&bytes[..=end])
}
