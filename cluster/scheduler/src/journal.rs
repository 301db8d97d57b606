//! The scheduler's journal: every job, its tasks' outputs and its end, in an embedded `redb`
//! database under the state directory, so a scheduler killed mid-job resumes it on restart.
//!
//! Six tables: `jobs` (job id → [`JobRecord`]), `tasks` ((job id, stage, task) → [`TaskDone`]),
//! `ends` (job id → the final [`JobState`]), `failures` (job id → the [`JobFailure`] of a
//! failed job), and `submitted` and `ended_at` (job id → when it was accepted, when it ended, in
//! milliseconds since the Unix epoch), `owners` (job id → its tenant and submitter) and `costs`
//! ((job id, stage) → what the stage's attempts consumed). Values are `postcard`-encoded. Every batch of changes is
//! one transaction, written before its effects are acted on; a job the scheduler forgets is
//! removed from every table. A journal of an earlier release opens as it is: without `failures`,
//! its failed jobs keep their cause, without its kind; without the times, its jobs count as
//! accepted and ended when the journal was opened (so the retention's age counts from then);
//! without `owners`, its jobs belong to the default tenant; without `costs`, its jobs' costs count
//! from the restart.

use flicker_protocol::status::{JobFailure, JobState};
use flicker_protocol::tenant::{Cost, Owner};
use flicker_protocol::{JobId, StageId, TaskIndex};
use flicker_scheduler_core::job_run::{JobRecord, JournalUpdate, TaskDone};
use redb::{Database, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const JOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("jobs");
const TASKS: TableDefinition<(&str, u32, u32), &[u8]> = TableDefinition::new("tasks");
const ENDS: TableDefinition<&str, &[u8]> = TableDefinition::new("ends");
const FAILURES: TableDefinition<&str, &[u8]> = TableDefinition::new("failures");
const SUBMITTED: TableDefinition<&str, u64> = TableDefinition::new("submitted");
const ENDED_AT: TableDefinition<&str, u64> = TableDefinition::new("ended_at");
const OWNERS: TableDefinition<&str, &[u8]> = TableDefinition::new("owners");
const COSTS: TableDefinition<(&str, u32), &[u8]> = TableDefinition::new("costs");

/// Why the journal could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The database failed.
    #[error("scheduler journal {}: {source}", path.display())]
    Store {
        /// The database file.
        path: PathBuf,
        /// The error (boxed: a `redb::Error` is large, and this error travels in every `Result`).
        source: Box<redb::Error>,
    },
    /// A record does not decode.
    #[error("scheduler journal {}: a record of job {job} is damaged: {reason}", path.display())]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// The job.
        job: String,
        /// What is wrong.
        reason: String,
    },
}

/// A job as the journal holds it.
#[derive(Debug, Clone)]
pub struct JournaledJob {
    /// What it is made of.
    pub record: JobRecord,
    /// Its tasks that succeeded and still count.
    pub done: Vec<(StageId, TaskIndex, TaskDone)>,
    /// How it ended, if it did, and why it failed if it did.
    pub ended: Option<(JobState, Option<JobFailure>)>,
    /// When it was accepted, since the Unix epoch, if the journal says (earlier releases did not).
    pub submitted: Option<Duration>,
    /// When it ended, since the Unix epoch, if it did and the journal says.
    pub ended_at: Option<Duration>,
    /// Who it belongs to, if the journal says (earlier releases did not).
    pub owner: Option<Owner>,
    /// What each stage's attempts consumed, as far as the journal says.
    pub costs: Vec<(StageId, Cost)>,
}

/// Writes a journal's updates on a thread of its own: every update queued while one transaction
/// commits, or within `COMMIT_EVERY` of the last commit, goes into the next (group commit), so
/// the scheduler does not wait for the disk on each task report, however fast reports come.
/// Updates are written in the order given.
pub struct JournalWriter {
    queue: std::sync::mpsc::Sender<Queued>,
}

/// The least time between two commits of updates nobody waits for: at thousands of task reports
/// a second, waking the writer and syncing the disk for each cost ~10 % of the scheduler's CPU.
const COMMIT_EVERY: Duration = Duration::from_millis(5);

/// Updates waiting for the writer, and who waits for them to be on disk.
struct Queued {
    updates: Vec<(JobId, JournalUpdate)>,
    written: Option<std::sync::mpsc::Sender<()>>,
}

impl JournalWriter {
    /// Starts the writer thread of `journal`; it stops when the writer is dropped.
    pub fn start(journal: std::sync::Arc<Journal>) -> Self {
        let (queue, queued) = std::sync::mpsc::channel::<Queued>();
        std::thread::Builder::new()
            .name("flicker-journal".into())
            .spawn(move || {
                let mut last_commit: Option<Instant> = None;
                while let Ok(first) = queued.recv() {
                    // Updates nobody waits for wait for the next commit time, so the thread
                    // wakes and syncs once per interval rather than once per task report.
                    if let (Some(last), None) = (last_commit, &first.written) {
                        std::thread::sleep((last + COMMIT_EVERY).saturating_duration_since(Instant::now()));
                    }
                    let mut batch = vec![first];
                    batch.extend(queued.try_iter());
                    let updates: Vec<_> =
                        batch.iter_mut().flat_map(|q| std::mem::take(&mut q.updates)).collect();
                    if let Err(error) = journal.apply(&updates) {
                        tracing::error!(%error, "cannot write the journal");
                    }
                    last_commit = Some(Instant::now());
                    for waiting in batch.into_iter().filter_map(|q| q.written) {
                        let _ = waiting.send(());
                    }
                }
            })
            .expect("starting the journal thread");
        Self { queue }
    }

    /// Queues `updates`; returns at once.
    pub fn write(&self, updates: Vec<(JobId, JournalUpdate)>) {
        if !updates.is_empty() {
            let _ = self.queue.send(Queued { updates, written: None });
        }
    }

    /// Queues `updates` and returns once they (and every update queued before) are on disk.
    pub fn write_and_wait(&self, updates: Vec<(JobId, JournalUpdate)>) {
        let (written, wait) = std::sync::mpsc::channel();
        if self.queue.send(Queued { updates, written: Some(written) }).is_ok() {
            let _ = wait.recv();
        }
    }
}

/// The journal database.
pub struct Journal {
    db: Database,
    path: PathBuf,
}

impl Journal {
    /// Opens (or creates) the journal in `dir`.
    pub fn open(dir: &Path) -> Result<Self, JournalError> {
        let path = dir.join("journal.redb");
        let store =
            |source: redb::Error| JournalError::Store { path: path.clone(), source: Box::new(source) };
        let db = Database::create(&path).map_err(|e| store(e.into()))?;
        let write = db.begin_write().map_err(|e| store(e.into()))?;
        write.open_table(JOBS).map_err(|e| store(e.into()))?;
        write.open_table(TASKS).map_err(|e| store(e.into()))?;
        write.open_table(ENDS).map_err(|e| store(e.into()))?;
        write.open_table(FAILURES).map_err(|e| store(e.into()))?;
        write.open_table(SUBMITTED).map_err(|e| store(e.into()))?;
        write.open_table(ENDED_AT).map_err(|e| store(e.into()))?;
        write.open_table(OWNERS).map_err(|e| store(e.into()))?;
        write.open_table(COSTS).map_err(|e| store(e.into()))?;
        write.commit().map_err(|e| store(e.into()))?;
        Ok(Self { db, path })
    }

    fn store_error(&self, source: impl Into<redb::Error>) -> JournalError {
        JournalError::Store { path: self.path.clone(), source: Box::new(source.into()) }
    }

    /// Records a new job of `owner`, accepted at `submitted` (since the Unix epoch).
    pub fn add_job(
        &self,
        record: &JobRecord,
        owner: &Owner,
        submitted: Duration,
    ) -> Result<(), JournalError> {
        let bytes = encode(record);
        let job = record.descriptor.job.0.as_str();
        let write = self.db.begin_write().map_err(|e| self.store_error(e))?;
        {
            let mut jobs = write.open_table(JOBS).map_err(|e| self.store_error(e))?;
            jobs.insert(job, bytes.as_slice()).map_err(|e| self.store_error(e))?;
            let mut times = write.open_table(SUBMITTED).map_err(|e| self.store_error(e))?;
            times.insert(job, millis(submitted)).map_err(|e| self.store_error(e))?;
            let mut owners = write.open_table(OWNERS).map_err(|e| self.store_error(e))?;
            owners.insert(job, encode(owner).as_slice()).map_err(|e| self.store_error(e))?;
        }
        write.commit().map_err(|e| self.store_error(e))
    }

    /// Records a batch of changes in one transaction.
    pub fn apply(&self, updates: &[(JobId, JournalUpdate)]) -> Result<(), JournalError> {
        if updates.is_empty() {
            return Ok(());
        }
        let write = self.db.begin_write().map_err(|e| self.store_error(e))?;
        {
            let mut jobs = write.open_table(JOBS).map_err(|e| self.store_error(e))?;
            let mut tasks = write.open_table(TASKS).map_err(|e| self.store_error(e))?;
            let mut ends = write.open_table(ENDS).map_err(|e| self.store_error(e))?;
            let mut failures = write.open_table(FAILURES).map_err(|e| self.store_error(e))?;
            let mut submitted = write.open_table(SUBMITTED).map_err(|e| self.store_error(e))?;
            let mut ended_at = write.open_table(ENDED_AT).map_err(|e| self.store_error(e))?;
            let mut owners = write.open_table(OWNERS).map_err(|e| self.store_error(e))?;
            let mut costs = write.open_table(COSTS).map_err(|e| self.store_error(e))?;
            for (job, update) in updates {
                let job = job.0.as_str();
                let written = match update {
                    JournalUpdate::TaskDone { stage, index, done } => {
                        tasks.insert((job, stage.0, index.0), encode(done).as_slice()).map(drop)
                    }
                    JournalUpdate::TaskUndone { stage, index } => {
                        tasks.remove((job, stage.0, index.0)).map(drop)
                    }
                    JournalUpdate::Ended { state, failure, at } => ends
                        .insert(job, encode(state).as_slice())
                        .and_then(|_| ended_at.insert(job, millis(*at)))
                        .and_then(|_| match failure {
                            Some(failure) => failures.insert(job, encode(failure).as_slice()).map(drop),
                            None => Ok(()),
                        }),
                    JournalUpdate::Forgotten => tasks
                        .retain_in((job, 0, 0)..=(job, u32::MAX, u32::MAX), |_, _| false)
                        .and_then(|()| jobs.remove(job).map(drop))
                        .and_then(|()| ends.remove(job).map(drop))
                        .and_then(|()| failures.remove(job).map(drop))
                        .and_then(|()| submitted.remove(job).map(drop))
                        .and_then(|()| ended_at.remove(job).map(drop))
                        .and_then(|()| owners.remove(job).map(drop))
                        .and_then(|()| costs.retain_in((job, 0)..=(job, u32::MAX), |_, _| false)),
                    JournalUpdate::Charged { stage, total } => {
                        costs.insert((job, stage.0), encode(total).as_slice()).map(drop)
                    }
                };
                written.map_err(|e| self.store_error(e))?;
            }
        }
        write.commit().map_err(|e| self.store_error(e))
    }

    /// Every job in the journal, in id order.
    pub fn load(&self) -> Result<Vec<JournaledJob>, JournalError> {
        let read = self.db.begin_read().map_err(|e| self.store_error(e))?;
        let jobs = read.open_table(JOBS).map_err(|e| self.store_error(e))?;
        let tasks = read.open_table(TASKS).map_err(|e| self.store_error(e))?;
        let ends = read.open_table(ENDS).map_err(|e| self.store_error(e))?;
        let failures = read.open_table(FAILURES).map_err(|e| self.store_error(e))?;
        let submitted = read.open_table(SUBMITTED).map_err(|e| self.store_error(e))?;
        let ended_at = read.open_table(ENDED_AT).map_err(|e| self.store_error(e))?;
        // (`open` adds the table to a journal of an earlier release, empty.)
        let owners = read.open_table(OWNERS).map_err(|e| self.store_error(e))?;
        let costs = read.open_table(COSTS).map_err(|e| self.store_error(e))?;
        let time = |table: &redb::ReadOnlyTable<&str, u64>, job: &str| {
            let found = table.get(job).map_err(|e| self.store_error(e))?;
            Ok::<_, JournalError>(found.map(|ms| Duration::from_millis(ms.value())))
        };
        let mut loaded = Vec::new();
        for entry in jobs.iter().map_err(|e| self.store_error(e))? {
            let (id, bytes) = entry.map_err(|e| self.store_error(e))?;
            let job = id.value().to_owned();
            let record: JobRecord = self.decode(&job, bytes.value())?;
            let mut done = Vec::new();
            let range = tasks.range((job.as_str(), 0, 0)..=(job.as_str(), u32::MAX, u32::MAX));
            for entry in range.map_err(|e| self.store_error(e))? {
                let (key, bytes) = entry.map_err(|e| self.store_error(e))?;
                let (_, stage, index) = key.value();
                done.push((StageId(stage), TaskIndex(index), self.decode(&job, bytes.value())?));
            }
            let ended = match ends.get(job.as_str()).map_err(|e| self.store_error(e))? {
                Some(bytes) => {
                    let failure = match failures.get(job.as_str()).map_err(|e| self.store_error(e))? {
                        Some(bytes) => Some(self.decode(&job, bytes.value())?),
                        None => None,
                    };
                    Some((self.decode(&job, bytes.value())?, failure))
                }
                None => None,
            };
            let (submitted, ended_at) = (time(&submitted, &job)?, time(&ended_at, &job)?);
            let owner = match owners.get(job.as_str()).map_err(|e| self.store_error(e))? {
                Some(bytes) => Some(self.decode(&job, bytes.value())?),
                None => None,
            };
            let mut stage_costs = Vec::new();
            for entry in
                costs.range((job.as_str(), 0)..=(job.as_str(), u32::MAX)).map_err(|e| self.store_error(e))?
            {
                let (key, bytes) = entry.map_err(|e| self.store_error(e))?;
                stage_costs.push((StageId(key.value().1), self.decode(&job, bytes.value())?));
            }
            loaded.push(JournaledJob { record, done, ended, submitted, ended_at, owner, costs: stage_costs });
        }
        Ok(loaded)
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, job: &str, bytes: &[u8]) -> Result<T, JournalError> {
        postcard::from_bytes(bytes).map_err(|e| JournalError::Corrupt {
            path: self.path.clone(),
            job: job.to_owned(),
            reason: e.to_string(),
        })
    }
}

/// A time since the Unix epoch as the journal keeps it, in milliseconds.
fn millis(time: Duration) -> u64 {
    u64::try_from(time.as_millis()).unwrap_or(u64::MAX)
}

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Encoding plain data into a Vec cannot fail.
    postcard::to_allocvec(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flicker_protocol::failure::{FailureKind, LimitHit};
    use flicker_protocol::task::{JobDefaults, JobDescriptor, TaskMetrics, TaskOutput};
    use flicker_protocol::{AttemptId, ExecutorId};
    use flicker_scheduler_core::job_run::{RetryPolicy, SplitRange, StageTasks};
    use redb::ReadableTableMetadata;

    fn record(job: &str) -> JobRecord {
        JobRecord {
            descriptor: JobDescriptor {
                job: JobId(job.into()),
                manifest_path: "job.toml".into(),
                manifest: "name = \"x\"".into(),
                base_dir: "/".into(),
                plugins: Vec::new(),
                defaults: JobDefaults::default(),
            },
            name: "x".into(),
            inputs: vec![StageTasks::Partitions { upstream: StageId(0) }],
            outputs: vec![("out".into(), "file:///out".into())],
            retry: RetryPolicy { max_attempts: 4, exclude_after: 2 },
        }
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn owner(tenant: &str) -> Owner {
        Owner { tenant: flicker_protocol::TenantId(tenant.into()), submitter: "alice".into() }
    }

    fn done(n: u64) -> TaskDone {
        TaskDone {
            executor: ExecutorId("e".into()),
            bts: "127.0.0.1:9".parse().unwrap(),
            output: TaskOutput::MapOutput { partition_bytes: vec![n] },
            metrics: TaskMetrics { rows_in: n, ..TaskMetrics::default() },
        }
    }

    #[test]
    fn jobs_their_tasks_and_ends_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let journal = Journal::open(dir.path()).unwrap();
            journal.add_job(&record("a"), &owner("acme"), secs(1)).unwrap();
            journal.add_job(&record("b"), &owner("zeta"), secs(2)).unwrap();
            let a = JobId("a".into());
            let b = JobId("b".into());
            journal
                .apply(&[
                    (
                        a.clone(),
                        JournalUpdate::TaskDone { stage: StageId(0), index: TaskIndex(1), done: done(1) },
                    ),
                    (
                        a.clone(),
                        JournalUpdate::TaskDone { stage: StageId(0), index: TaskIndex(2), done: done(2) },
                    ),
                    (
                        b.clone(),
                        JournalUpdate::TaskDone { stage: StageId(1), index: TaskIndex(0), done: done(3) },
                    ),
                ])
                .unwrap();
            journal
                .apply(&[(a, JournalUpdate::TaskUndone { stage: StageId(0), index: TaskIndex(1) })])
                .unwrap();
            let end = JournalUpdate::Ended { state: JobState::Succeeded, failure: None, at: secs(3) };
            journal.apply(&[(b, end)]).unwrap();
        }
        let loaded = Journal::open(dir.path()).unwrap().load().unwrap();
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded[0].record, record("a"));
        assert_eq!(loaded[0].done, vec![(StageId(0), TaskIndex(2), done(2))]);
        assert_eq!(loaded[0].ended, None);
        assert_eq!(
            (loaded[0].owner.clone(), loaded[1].owner.clone()),
            (Some(owner("acme")), Some(owner("zeta")))
        );
        assert_eq!(loaded[1].done, vec![(StageId(1), TaskIndex(0), done(3))]);
        assert_eq!(loaded[1].ended, Some((JobState::Succeeded, None)));
        assert_eq!((loaded[0].submitted, loaded[0].ended_at), (Some(secs(1)), None));
        assert_eq!((loaded[1].submitted, loaded[1].ended_at), (Some(secs(2)), Some(secs(3))));
    }

    #[test]
    fn a_forgotten_job_leaves_nothing_in_any_table() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (JobId("a".into()), JobId("b".into()));
        {
            let journal = Journal::open(dir.path()).unwrap();
            for job in ["a", "b"] {
                journal.add_job(&record(job), &owner("acme"), secs(1)).unwrap();
            }
            let task = |stage, index| JournalUpdate::TaskDone {
                stage: StageId(stage),
                index: TaskIndex(index),
                done: done(1),
            };
            let failed = JournalUpdate::Ended {
                state: JobState::Failed { cause: "boom".into() },
                failure: Some(JobFailure::MapOutputLost),
                at: secs(5),
            };
            let charged = |stage, cpu_us| JournalUpdate::Charged {
                stage: StageId(stage),
                total: Cost { attempts: 1, cpu_us, ..Cost::default() },
            };
            journal
                .apply(&[(a.clone(), task(0, 0)), (a.clone(), task(1, 3)), (b.clone(), task(0, 0))])
                .unwrap();
            journal
                .apply(&[(a.clone(), charged(0, 5)), (b.clone(), charged(0, 5)), (b.clone(), charged(0, 9))])
                .unwrap();
            journal.apply(&[(a.clone(), failed), (a.clone(), JournalUpdate::Forgotten)]).unwrap();
        }
        let journal = Journal::open(dir.path()).unwrap();
        let loaded = journal.load().unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!((&loaded[0].record.descriptor.job, loaded[0].done.len()), (&b, 1));
        let total = Cost { attempts: 1, cpu_us: 9, ..Cost::default() };
        assert_eq!(loaded[0].costs, [(StageId(0), total)], "a stage's latest total");
        let read = journal.db.begin_read().unwrap();
        let left =
            |table: TableDefinition<&str, &[u8]>| read.open_table(table).unwrap().get("a").unwrap().is_some();
        assert!(!left(JOBS) && !left(ENDS) && !left(FAILURES));
        assert!(read.open_table(ENDED_AT).unwrap().get("a").unwrap().is_none());
        assert!(read.open_table(SUBMITTED).unwrap().get("a").unwrap().is_none());
        assert_eq!(read.open_table(TASKS).unwrap().len().unwrap(), 1, "only b's task");
        assert_eq!(read.open_table(COSTS).unwrap().len().unwrap(), 1, "only b's stage");
    }

    #[test]
    fn a_failed_jobs_failure_survives_reopening_and_a_journal_without_failures_or_times_still_opens() {
        let dir = tempfile::tempdir().unwrap();
        let failed = JobState::Failed { cause: "boom".into() };
        {
            // A journal as the release before `failures` wrote it: three tables.
            let db = Database::create(dir.path().join("journal.redb")).unwrap();
            let write = db.begin_write().unwrap();
            write.open_table(JOBS).unwrap().insert("old", encode(&record("old")).as_slice()).unwrap();
            write.open_table(TASKS).unwrap();
            write.open_table(ENDS).unwrap().insert("old", encode(&failed).as_slice()).unwrap();
            write.commit().unwrap();
        }
        let failure = JobFailure::Task {
            stage: 0,
            task: TaskIndex(3),
            attempts: 4,
            kind: FailureKind::LimitHit { limit: LimitHit::Memory { bytes: 64 << 20 } },
        };
        {
            let journal = Journal::open(dir.path()).unwrap();
            journal.add_job(&record("new"), &owner("acme"), secs(1)).unwrap();
            let update =
                JournalUpdate::Ended { state: failed.clone(), failure: Some(failure.clone()), at: secs(2) };
            journal.apply(&[(JobId("new".into()), update)]).unwrap();
        }
        let loaded = Journal::open(dir.path()).unwrap().load().unwrap();
        assert_eq!(loaded[0].record, record("new"));
        assert_eq!(loaded[0].ended, Some((failed.clone(), Some(failure))));
        assert_eq!(loaded[1].record, record("old"));
        assert_eq!(loaded[1].ended, Some((failed, None)));
        assert_eq!((loaded[1].submitted, loaded[1].ended_at), (None, None), "its times are not known");
        assert_eq!(loaded[1].owner, None, "nor its owner");
    }

    /// The bytes the journal of earlier releases holds for a job, a task done and a job's end:
    /// they must decode to the same values, and the values encode to the same bytes.
    #[test]
    fn records_keep_their_encoding_so_old_journals_open() {
        let mut job = record("s");
        // The defaults spelt out, so that changing a default value does not look like a change
        // of the encoding.
        job.descriptor.defaults = JobDefaults {
            memory_limit: 512 << 20,
            call_timeout_ms: 60_000,
            output_limit: 256 << 20,
            partitions: 8,
            split_size: 64 << 20,
            chunk_size: 1 << 20,
            max_attempts: 4,
        };
        let split = SplitRange { object: "f".into(), object_size: 10, start: 2, end: 5 };
        job.inputs.insert(0, StageTasks::Splits { source: "in".into(), splits: vec![split] });
        let part = TaskDone {
            executor: ExecutorId("e".into()),
            bts: "[::1]:7".parse().unwrap(),
            output: TaskOutput::Part { name: "p".into(), size: 3, attempt: AttemptId(2) },
            metrics: TaskMetrics { rows_in: 1, task_ms: 9, ..TaskMetrics::default() },
        };
        let failure = JobFailure::Task {
            stage: 0,
            task: TaskIndex(3),
            attempts: 4,
            kind: FailureKind::LimitHit { limit: LimitHit::Memory { bytes: 64 << 20 } },
        };
        const JOB: &[u8] = &[
            1, 115, 8, 106, 111, 98, 46, 116, 111, 109, 108, 10, 110, 97, 109, 101, 32, 61, 32, 34, 120, 34,
            1, 47, 0, 128, 128, 128, 128, 2, 224, 212, 3, 128, 128, 128, 128, 1, 8, 128, 128, 128, 32, 128,
            128, 64, 4, 1, 120, 2, 0, 2, 105, 110, 1, 1, 102, 10, 2, 5, 1, 0, 1, 3, 111, 117, 116, 11, 102,
            105, 108, 101, 58, 47, 47, 47, 111, 117, 116, 4, 2,
        ];
        const MAP_DONE: &[u8] = &[1, 101, 0, 127, 0, 0, 1, 9, 0, 1, 7, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        const PART_DONE: &[u8] = &[
            1, 101, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 7, 1, 1, 112, 3, 2, 1, 0, 0, 0, 0, 0,
            9, 0, 0, 0,
        ];
        const FAILURE: &[u8] = &[0, 0, 3, 4, 4, 0, 128, 128, 128, 32];
        const FAILED: &[u8] = &[2, 4, 98, 111, 111, 109];
        fn same<T>(bytes: &[u8], value: &T)
        where
            T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
        {
            assert_eq!(&postcard::from_bytes::<T>(bytes).unwrap(), value);
            assert_eq!(encode(value), bytes);
        }
        same(JOB, &job);
        same(MAP_DONE, &done(7));
        same(PART_DONE, &part);
        same(FAILURE, &failure);
        same(FAILED, &JobState::Failed { cause: "boom".into() });
        // Written from this release on: a stage's cost, an owner.
        let cost = Cost {
            attempts: 1,
            cpu_us: 2,
            task_ms: 3,
            peak_memory: 4,
            bytes_read: 5,
            bytes_written: 6,
            shuffle_bytes: 7,
            spill_bytes: 8,
        };
        same(&[1, 2, 3, 4, 5, 6, 7, 8], &cost);
        same(&[4, 97, 99, 109, 101, 5, 97, 108, 105, 99, 101], &owner("acme"));
    }
}
