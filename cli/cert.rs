//! `flicker cert`: the cluster's certificates.

use anyhow::Context;
use flicker_transport::certs::{self, Role};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum CertCommand {
    /// Make a new cluster CA in DIR, with certificates `scheduler`, `executor` (for one executor
    /// called `executor`, or standalone BTSes), `client` (of the tenant `default`) and `admin`. The CA's key goes to DIR/ca/, which
    /// no node needs: keep it apart. Refuses a DIR that already holds a CA.
    Init {
        /// Directory for `ca/` (the CA's key), `ca.pem` and the `<name>.pem`/`<name>.key` pairs.
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
        /// `scheduler`, `executor` (a node: joins the cluster under this name, runs tasks, serves
        /// shuffle data), `client` (submits, watches and cancels its tenant's jobs) or `admin`
        /// (sees and manages every tenant's jobs, reads the audit log).
        #[arg(long)]
        role: Role,
        /// The tenant a client (or an admin) belongs to, declared in the scheduler's
        /// `[tenants.NAME]`; a client without one is of the tenant `default`.
        #[arg(long)]
        tenant: Option<String>,
        /// How many days it is valid.
        #[arg(long, default_value_t = certs::DEFAULT_VALIDITY_DAYS, value_parser = clap::value_parser!(u32).range(1..=3650))]
        days: u32,
    },
    /// Write to OUT the files one node needs and nothing more: `ca.pem`, `crl.pem` (if any) and
    /// NAME's certificate and key. Give a node its bundle, never DIR (which holds every key).
    Bundle {
        /// Directory holding the cluster's certificates (from `cert init`).
        #[arg(long)]
        dir: PathBuf,
        /// The node's certificate name.
        #[arg(long)]
        name: String,
        /// The node's directory to write (use it as the node's `--tls-dir`).
        #[arg(long)]
        out: PathBuf,
    },
    /// Revoke the certificate NAME of the cluster in DIR: it is added to DIR/crl.pem, the
    /// revocation list every node loads when it starts (restart the nodes, or copy them the
    /// list and restart them, to refuse it).
    Revoke {
        /// Directory holding the CA (from `cert init`) and the certificate.
        #[arg(long)]
        dir: PathBuf,
        /// The certificate's name (`<name>.pem`).
        #[arg(long)]
        name: String,
    },
}

pub fn run(command: CertCommand) -> anyhow::Result<ExitCode> {
    match command {
        CertCommand::Init { dir } => {
            certs::init_cluster(&dir)
                .with_context(|| format!("cannot make a cluster CA in {}", dir.display()))?;
            println!(
                "cluster CA and certificates scheduler, executor, client, admin written to {}",
                dir.display()
            );
        }
        CertCommand::Issue { dir, name, role, tenant, days } => {
            let path = certs::issue(&dir, &name, role, tenant.as_deref(), days)?;
            let of = tenant.map_or_else(String::new, |tenant| format!(" of tenant {tenant:?}"));
            println!("{role} certificate {name:?}{of}, valid for {days} days, written to {}", path.display());
        }
        CertCommand::Bundle { dir, name, out } => {
            let out = certs::bundle(&dir, &name, &out)?;
            println!("{name:?}'s node directory written to {} (its --tls-dir)", out.display());
        }
        CertCommand::Revoke { dir, name } => {
            let path = certs::revoke(&dir, &name)?;
            println!(
                "certificate {name:?} revoked: {} lists it; nodes refuse it once they load it",
                path.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
