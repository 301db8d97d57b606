//! `flicker cert`: the cluster's certificates.

use anyhow::Context;
use flicker_transport::certs::{self, Role};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum CertCommand {
    /// Make a new cluster CA in DIR, with certificates `scheduler`, `executor` (shared by
    /// executors and standalone BTSes) and `client`. Refuses a DIR that already holds a CA.
    Init {
        /// Directory for `ca.pem`, `ca.key` and the `<name>.pem`/`<name>.key` pairs.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Add a certificate signed by the cluster CA in DIR.
    Issue {
        /// Directory holding the CA (from `cert init`).
        #[arg(long)]
        dir: PathBuf,
        /// Its name: letters, digits, `-` and `_`; files `<name>.pem` and `<name>.key`.
        #[arg(long)]
        name: String,
        /// `executor` (a node: may accept and make connections) or `client` (may only connect).
        #[arg(long)]
        role: Role,
    },
}

pub fn run(command: CertCommand) -> anyhow::Result<ExitCode> {
    match command {
        CertCommand::Init { dir } => {
            certs::init_cluster(&dir)
                .with_context(|| format!("cannot make a cluster CA in {}", dir.display()))?;
            println!("cluster CA and certificates scheduler, executor, client written to {}", dir.display());
        }
        CertCommand::Issue { dir, name, role } => {
            let path = certs::issue(&dir, &name, role)?;
            println!("{role} certificate {name:?} written to {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
