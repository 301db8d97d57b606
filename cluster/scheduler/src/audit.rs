//! The scheduler's audit log: an append-only file of JSON lines in its state directory
//! (`audit.jsonl`), one [`AuditRecord`] per line: submissions, cancels, uploads, refusals, budget
//! stops and job ends with what they cost. Nothing rewrites or removes a line; `flicker audit`
//! reads them and `flicker usage` sums the job ends.

use flicker_protocol::TenantId;
use flicker_protocol::tenant::{AuditEvent, AuditRecord, TenantUsage};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// The file name of the audit log in the state directory.
const FILE: &str = "audit.jsonl";

/// The longest line read back: a longer one is not a record this scheduler wrote.
const MAX_LINE: usize = 1 << 20;

/// The audit log.
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl AuditLog {
    /// Opens (or creates) the audit log of the state directory `dir`, for appending.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        let path = dir.join(FILE);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Self { path, file: Mutex::new(file) })
    }

    /// Appends `record` as one line, on disk before it returns. A failure is logged: the
    /// request it records has happened either way.
    pub fn append(&self, record: &AuditRecord) {
        let mut line = match serde_json::to_vec(record) {
            Ok(line) => line,
            Err(error) => return tracing::warn!(%error, "cannot encode an audit record"),
        };
        line.push(b'\n');
        let mut file = self.file.lock();
        if let Err(error) = file.write_all(&line).and_then(|()| file.sync_data()) {
            tracing::warn!(path = %self.path.display(), %error, "cannot write the audit log");
        }
    }

    /// The records at or after `since` (milliseconds since the Unix epoch) that `keep` keeps,
    /// oldest first, given to `each` in chunks of at most `chunk`. A line that is not a record
    /// (the torn end of a line written as the scheduler died) is skipped with a warning.
    pub fn read(
        &self,
        since: u64,
        keep: impl Fn(&AuditRecord) -> bool,
        chunk: usize,
        mut each: impl FnMut(Vec<AuditRecord>),
    ) -> std::io::Result<()> {
        let mut reader = BufReader::new(File::open(&self.path)?);
        let mut records = Vec::new();
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = (&mut reader).take(MAX_LINE as u64 + 1).read_until(b'\n', &mut line)?;
            if read == 0 {
                break;
            }
            if line.len() > MAX_LINE && !line.ends_with(b"\n") {
                // Skip the rest of an overlong line.
                reader.skip_until(b'\n')?;
            }
            match serde_json::from_slice::<AuditRecord>(&line) {
                Ok(record) if record.at_unix_ms >= since && keep(&record) => records.push(record),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(path = %self.path.display(), %error, "skipped a damaged audit line")
                }
            }
            if records.len() >= chunk {
                each(std::mem::take(&mut records));
            }
        }
        if !records.is_empty() {
            each(records);
        }
        Ok(())
    }

    /// What the jobs that ended at or after `since` consumed, per tenant `keep` keeps.
    pub fn usage(&self, since: u64, keep: impl Fn(&TenantId) -> bool) -> std::io::Result<Vec<TenantUsage>> {
        let mut usage: BTreeMap<TenantId, TenantUsage> = BTreeMap::new();
        let ended = |record: &AuditRecord| {
            matches!(record.event, AuditEvent::Ended { .. }) && record.tenant.as_ref().is_some_and(&keep)
        };
        self.read(since, ended, 1024, |records| {
            for record in records {
                let (Some(tenant), AuditEvent::Ended { cost, .. }) = (record.tenant, record.event) else {
                    continue;
                };
                let entry = usage.entry(tenant.clone()).or_insert_with(|| TenantUsage {
                    tenant,
                    jobs: 0,
                    cost: Default::default(),
                });
                entry.jobs += 1;
                entry.cost += cost;
            }
        })?;
        Ok(usage.into_values().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flicker_protocol::JobId;
    use flicker_protocol::status::JobState;
    use flicker_protocol::tenant::Cost;

    fn ended(at: u64, tenant: &str, cpu_us: u64) -> AuditRecord {
        AuditRecord {
            at_unix_ms: at,
            tenant: Some(TenantId(tenant.into())),
            identity: "scheduler".into(),
            event: AuditEvent::Ended {
                job: JobId(format!("job-{at}")),
                state: JobState::Succeeded,
                cost: Cost { attempts: 1, cpu_us, ..Cost::default() },
            },
        }
    }

    #[test]
    fn records_are_appended_read_back_filtered_and_summed_per_tenant_past_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path()).unwrap();
        log.append(&ended(1, "a", 10));
        log.append(&ended(2, "b", 20));
        // A line torn as the scheduler died, then a record of a later run.
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(FILE))
            .unwrap()
            .write_all(b"{\"at_unix")
            .unwrap();
        let log = AuditLog::open(dir.path()).unwrap();
        log.append(&ended(3, "a", 30));
        let mut chunks = Vec::new();
        log.read(0, |_| true, 2, |records| chunks.push(records.len())).unwrap();
        assert_eq!(chunks, [2], "the torn line swallows the next one's start: two records remain");
        log.append(&ended(4, "a", 40));
        let usage = log.usage(2, |_| true).unwrap();
        let sums: Vec<(&str, u64, u64)> =
            usage.iter().map(|u| (u.tenant.0.as_str(), u.jobs, u.cost.cpu_us)).collect();
        assert_eq!(sums, [("a", 1, 40), ("b", 1, 20)]);
        let only_a = log.usage(0, |t| t.0 == "a").unwrap();
        assert_eq!(only_a.len(), 1);
        assert_eq!(only_a[0].cost.cpu_us, 50);
    }
}
