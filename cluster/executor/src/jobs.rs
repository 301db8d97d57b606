//! What an executor knows of the jobs it runs tasks for: each job planned once (from the
//! descriptor the scheduler sends with every task), its cancel flag, and how a task spec becomes
//! a run of the task pipeline.

use super::Faults;
use crate::failure::{ShuffleWriteError, TaskCause};
use crate::task::{BlockSource, ShuffleOutput, TaskContext, TaskInput, TaskLog, run_task};
use flicker_batch::{Boundaries, SortKey};
use flicker_bts::{BlockBuffers, BtsClient, BtsError, FetchLimits, ShuffleStore, fetch_partition};
use flicker_host::{CpuAccount, Runtime};
use flicker_job::{ComponentSource, JobError, PreparedJob};
use flicker_protocol::bts::Capability;
use flicker_protocol::failure::{FailureKind, LostMapOutput, TaskFailure};
use flicker_protocol::task::{
    JobDescriptor, MapOutputLocation, OperatorLog, TaskInput as InputSpec, TaskMetrics, TaskReport, TaskSpec,
};
use flicker_protocol::tenant::TaskUsage;
use flicker_protocol::text::{MAX_OPERATOR_TEXT, bounded};
use flicker_protocol::{AttemptId, JobId, MapOutputId, PartitionId, StageId, TaskIndex};
use flicker_scheduler_core::StageOutput;
use flicker_storage::{NodeStorage, Split};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::runtime::Handle;
use tokio::sync::mpsc;

/// Where this executor's map outputs go.
#[derive(Debug, Clone)]
pub enum ShuffleTarget {
    /// The BTS inside this process, serving at `address`: map outputs go into its store, and a
    /// reduce task reads the blocks it holds from the store directly, as Spark reads local blocks.
    Local {
        /// Its store.
        store: Arc<ShuffleStore>,
        /// The address it serves (and map outputs name) it at.
        address: SocketAddr,
    },
    /// A standalone BTS, over the network.
    Remote(SocketAddr),
}

impl ShuffleTarget {
    /// The store of this process's BTS if it is the one serving at `bts`.
    fn local_store(&self, bts: SocketAddr) -> Option<&ShuffleStore> {
        match self {
            ShuffleTarget::Local { store, address } if *address == bts => Some(store),
            _ => None,
        }
    }
}

/// One job as this executor knows it.
#[derive(Default)]
pub struct JobEntry {
    prepared: Mutex<Option<Arc<PreparedJob>>>,
    /// Set when the job ended: its tasks stop, and none starts.
    ended: AtomicBool,
    /// The stop flag of each of its tasks running now.
    running: Mutex<Vec<Arc<AtomicBool>>>,
}

impl JobEntry {
    /// Tasks of the job running now.
    pub fn running(&self) -> usize {
        self.running.lock().len()
    }

    /// Stops the job's running tasks: their operators' calls within an epoch tick, the tasks
    /// at their next batch.
    fn stop_running(&self) -> usize {
        let running = self.running.lock();
        for stop in running.iter() {
            stop.store(true, Ordering::Relaxed);
        }
        running.len()
    }
}

/// A task running, with its own stop flag, set when its job ends or this executor loses the
/// scheduler that launched it.
struct Running<'a> {
    entry: &'a JobEntry,
    stop: Arc<AtomicBool>,
}

impl<'a> Running<'a> {
    fn new(entry: &'a JobEntry) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        entry.running.lock().push(stop.clone());
        // A job ended while the task registered: `end` set `ended` before it stopped the tasks.
        if entry.ended.load(Ordering::Acquire) {
            stop.store(true, Ordering::Relaxed);
        }
        Self { entry, stop }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.entry.running.lock().retain(|stop| !Arc::ptr_eq(stop, &self.stop));
    }
}

/// A task attempt running on this executor, counted in `flicker_executor_slots_busy` until
/// dropped (also when the attempt panics).
struct SlotBusy(metrics::Gauge);

impl SlotBusy {
    fn take() -> Self {
        let gauge = metrics::gauge!(flicker_metrics::EXECUTOR_SLOTS_BUSY);
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for SlotBusy {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// The jobs of an executor.
pub struct Jobs {
    runtime: Arc<Runtime>,
    components: Arc<dyn ComponentSource>,
    bts: Arc<BtsClient>,
    shuffle: ShuffleTarget,
    fetch: FetchLimits,
    faults: Faults,
    storage: NodeStorage,
    /// Where tasks spill aggregate state.
    spill_dir: PathBuf,
    jobs: Mutex<Known>,
}

/// The jobs with tasks here, and those that ended: a task of an ended job that arrives late (it
/// was on its way when the job ended) must not run.
#[derive(Default)]
struct Known {
    active: HashMap<JobId, Arc<JobEntry>>,
    ended: HashSet<JobId>,
}

impl Jobs {
    /// Jobs whose plugins load into `runtime`, components fetched from `components`, map outputs
    /// stored to `shuffle`, blocks fetched through `bts`, stores opened with `storage` (and its policy), aggregate
    /// state spilled to `spill_dir`.
    pub fn new(
        runtime: Arc<Runtime>,
        components: Arc<dyn ComponentSource>,
        bts: Arc<BtsClient>,
        shuffle: ShuffleTarget,
        faults: Faults,
        storage: NodeStorage,
        spill_dir: PathBuf,
    ) -> Self {
        Self {
            runtime,
            components,
            bts,
            shuffle,
            fetch: FetchLimits::default(),
            faults,
            storage,
            spill_dir,
            jobs: Mutex::default(),
        }
    }

    /// The job's entry, unless the job ended.
    fn entry(&self, job: &JobId) -> Option<Arc<JobEntry>> {
        let mut known = self.jobs.lock();
        if known.ended.contains(job) {
            return None;
        }
        Some(known.active.entry(job.clone()).or_default().clone())
    }

    /// Tells the job's tasks to stop (their running operator calls within an epoch tick) and
    /// forgets the job; returns its entry to wait on until its tasks stopped.
    pub fn end(&self, job: &JobId) -> Option<Arc<JobEntry>> {
        let mut known = self.jobs.lock();
        known.ended.insert(job.clone());
        let entry = known.active.remove(job)?;
        entry.ended.store(true, Ordering::Release);
        entry.stop_running();
        Some(entry)
    }

    /// Stops every task running here, of every job, keeping what the jobs left (their map
    /// output): the scheduler that launched them is gone, so nobody waits for their reports, and
    /// it (or the next one) runs them again. Returns how many tasks were told to stop.
    pub fn stop_running(&self) -> usize {
        let known = self.jobs.lock();
        known.active.values().map(|entry| entry.stop_running()).sum()
    }

    /// Runs one task attempt to its end, on this (blocking) thread, reading and writing shuffle
    /// blocks on other BTSes with the job's `capability`, its operators held to the spec's CPU
    /// budget; returns its report, what its operators wrote, and what it consumed (a failed
    /// attempt too).
    pub fn run(
        &self,
        spec: &TaskSpec,
        capability: &Capability,
        io: &Handle,
    ) -> (TaskReport, Vec<OperatorLog>, TaskUsage) {
        let started = Instant::now();
        let busy = SlotBusy::take();
        let log = TaskLog::default();
        let cpu = Arc::new(CpuAccount::new(spec.cpu_budget_us.map(Duration::from_micros)));
        let report = self.attempt(spec, capability, io, &log, &cpu, started);
        drop(busy);
        let outcome = match report {
            TaskReport::Succeeded { .. } => "succeeded",
            TaskReport::Failed(_) => "failed",
        };
        metrics::counter!(flicker_metrics::EXECUTOR_TASKS, "outcome" => outcome).increment(1);
        metrics::histogram!(flicker_metrics::EXECUTOR_TASK_DURATION).record(started.elapsed());
        let (written, peak_memory) = log.take();
        let usage = TaskUsage {
            cpu_us: cpu.used().as_micros().try_into().unwrap_or(u64::MAX),
            peak_memory,
            wall_ms: started.elapsed().as_millis().try_into().unwrap_or(u64::MAX),
        };
        (report, written, usage)
    }

    fn attempt(
        &self,
        spec: &TaskSpec,
        capability: &Capability,
        io: &Handle,
        log: &TaskLog,
        cpu: &Arc<CpuAccount>,
        started: Instant,
    ) -> TaskReport {
        let Some(entry) = self.entry(&spec.task.job) else {
            return report_failure(&TaskCause::Cancelled);
        };
        let running = Running::new(&entry);
        self.faults.hold(spec.task.stage, &running.stop);
        let job = match self.prepare(&entry, &spec.job, &spec.broadcasts) {
            Ok(job) => job,
            Err(error) => {
                return TaskReport::Failed(TaskFailure::new(FailureKind::Prepare, error.to_string()));
            }
        };
        let Some(stage) = job.plan.stages.iter().find(|s| s.id == spec.task.stage) else {
            let message = format!("the job has no {}", spec.task.stage);
            return TaskReport::Failed(TaskFailure::new(FailureKind::Prepare, message));
        };
        let boundaries = match &stage.output {
            StageOutput::Range { partitions, .. } => {
                let splits = spec.boundaries.iter().map(|key| SortKey::from_encoded(key)).collect();
                match Boundaries::from_splits(splits).filter(|b| b.partitions() <= *partitions) {
                    Some(boundaries) => Some(boundaries),
                    None => {
                        let message = format!(
                            "the range boundaries of {} are not {} or fewer ascending keys",
                            spec.task.stage,
                            partitions.saturating_sub(1)
                        );
                        return TaskReport::Failed(TaskFailure::new(FailureKind::Prepare, message));
                    }
                }
            }
            _ => None,
        };
        let output = StoreShuffle {
            job: &spec.task.job,
            capability,
            attempt: spec.attempt,
            target: &self.shuffle,
            bts: &self.bts,
            faults: &self.faults,
            io,
        };
        let ctx = TaskContext {
            job: &job,
            io,
            map_outputs: &output,
            run_id: &spec.task.job.0,
            attempt: spec.attempt,
            part: spec.part,
            boundaries: boundaries.as_ref(),
            cancelled: &running.stop,
            cpu,
            spill_dir: &self.spill_dir,
            log,
        };
        if spec.kept.len() != stage.kept.len() {
            let message = format!(
                "{} runs {} broadcast joins, the task names {} kept inputs",
                spec.task.stage,
                stage.kept.len(),
                spec.kept.len()
            );
            return TaskReport::Failed(TaskFailure::new(FailureKind::Prepare, message));
        }
        let _guard = io.enter();
        let mut kept_fetched: Vec<FetchedBlocks<'_>> =
            spec.kept.iter().map(|outputs| self.fetched(PartitionId(0), outputs, capability, io)).collect();
        let kept = kept_fetched.iter_mut().map(|blocks| blocks as &mut dyn BlockSource).collect();
        let outcome = match &spec.input {
            InputSpec::Split { source, object, object_size, start, end } => {
                let Some((location, _)) = job.sources.get(source) else {
                    let message = format!("the job has no source {source:?}");
                    return TaskReport::Failed(TaskFailure::new(FailureKind::Prepare, message));
                };
                let split = Split {
                    object: object.as_str().into(),
                    object_size: *object_size,
                    start: *start,
                    end: *end,
                };
                run_task(&ctx, stage, spec.task.index, TaskInput::Split { location, split: &split }, kept)
            }
            InputSpec::Partition { partition, map_outputs } => {
                let mut blocks = self.fetched(*partition, map_outputs, capability, io);
                run_task(&ctx, stage, spec.task.index, TaskInput::Partition { blocks: &mut blocks }, kept)
            }
            InputSpec::CoPartition { partition, inputs } => {
                let mut fetched: Vec<FetchedBlocks<'_>> =
                    inputs.iter().map(|outputs| self.fetched(*partition, outputs, capability, io)).collect();
                let inputs = fetched.iter_mut().map(|blocks| blocks as &mut dyn BlockSource).collect();
                run_task(&ctx, stage, spec.task.index, TaskInput::CoPartition { inputs }, kept)
            }
        };
        match outcome {
            Ok(outcome) => {
                let task_ms = started.elapsed().as_millis().try_into().unwrap_or(u64::MAX);
                TaskReport::Succeeded {
                    metrics: TaskMetrics { task_ms, ..outcome.metrics },
                    output: outcome.output,
                }
            }
            Err(failure) => TaskReport::Failed(TaskFailure {
                kind: failure.cause.kind(),
                step: failure.cause.step().map(str::to_owned),
                // Each text from the operator is bounded already; this bounds their sum.
                message: bounded(failure.to_string(), 4 * MAX_OPERATOR_TEXT),
            }),
        }
    }

    /// The blocks of `partition` of `map_outputs`: this process's BTS's read from its store, the
    /// others fetched (the fetch starts now, on the runtime entered).
    fn fetched<'a>(
        &'a self,
        partition: PartitionId,
        map_outputs: &'a [MapOutputLocation],
        capability: &Capability,
        io: &'a Handle,
    ) -> FetchedBlocks<'a> {
        let (mut local, mut remote) = (Vec::new(), Vec::new());
        for output in map_outputs {
            match self.shuffle.local_store(output.bts) {
                Some(store) => local.push((store, output)),
                None => remote.push((output.id.clone(), output.bts, output.bytes)),
            }
        }
        let receiver = fetch_partition(self.bts.clone(), partition.0, remote, self.fetch, capability.clone());
        FetchedBlocks {
            local: local.into_iter(),
            partition,
            receiver,
            io,
            buffers: self.bts.buffers(),
            fetched_last: false,
        }
    }

    /// The job planned from its descriptor (with the joins the scheduler broadcasts), once per
    /// executor.
    fn prepare(
        &self,
        entry: &JobEntry,
        descriptor: &JobDescriptor,
        broadcasts: &[(String, u32)],
    ) -> Result<Arc<PreparedJob>, JobError> {
        let mut prepared = entry.prepared.lock();
        if let Some(job) = prepared.as_ref() {
            return Ok(job.clone());
        }
        let job = Arc::new(PreparedJob::from_descriptor(
            descriptor,
            broadcasts,
            &self.runtime,
            self.components.as_ref(),
            &self.storage,
        )?);
        *prepared = Some(job.clone());
        Ok(job)
    }
}

/// Map outputs into this executor's BTS.
struct StoreShuffle<'a> {
    job: &'a JobId,
    /// The job's permission to write its blocks on another BTS.
    capability: &'a Capability,
    attempt: AttemptId,
    target: &'a ShuffleTarget,
    bts: &'a BtsClient,
    faults: &'a Faults,
    io: &'a Handle,
}

impl ShuffleOutput for StoreShuffle<'_> {
    fn write(
        &self,
        stage: StageId,
        task: TaskIndex,
        blocks: &mut dyn Iterator<Item = Result<Vec<u8>, TaskCause>>,
    ) -> Result<Vec<u64>, TaskCause> {
        let id = MapOutputId { job: self.job.clone(), stage, map_task: task };
        let failed = |error: BtsError| TaskCause::ShuffleWrite(error.into());
        let info = match self.target {
            ShuffleTarget::Local { store, .. } => {
                let mut writer = store.writer(&id).map_err(failed)?;
                for block in blocks {
                    writer.push_raw(&block?).map_err(failed)?;
                }
                let info = writer.finish().map_err(failed)?;
                if self.faults.corrupts(stage, task, self.attempt) && store.damage(&id).map_err(failed)? {
                    tracing::warn!(map_output = %id, "fault injected: map output damaged on disk");
                }
                info
            }
            ShuffleTarget::Remote(bts) => {
                let blocks = blocks.collect::<Result<Vec<_>, _>>()?;
                self.io.block_on(self.bts.put(*bts, &id, &blocks, self.capability)).map_err(|source| {
                    TaskCause::ShuffleWrite(ShuffleWriteError::Remote { bts: *bts, source })
                })?
            }
        };
        metrics::counter!(flicker_metrics::SHUFFLE_WRITTEN_BYTES).increment(info.raw_bytes.iter().sum());
        Ok(info.raw_bytes)
    }
}

/// The blocks of a reduce task's partition: those this process's BTS holds, read from its store
/// on the task's thread, then the others as the fetcher delivers them.
struct FetchedBlocks<'a> {
    local: std::vec::IntoIter<(&'a ShuffleStore, &'a MapOutputLocation)>,
    partition: PartitionId,
    receiver: mpsc::Receiver<Result<Vec<u8>, flicker_bts::BlockFailure>>,
    io: &'a Handle,
    /// Where the fetched blocks' buffers go once read: the fetching client's, to decode later
    /// blocks into.
    buffers: &'a BlockBuffers,
    /// Whether the block handed out last came from the fetcher (rather than this node's store).
    fetched_last: bool,
}

impl BlockSource for FetchedBlocks<'_> {
    /// The next block, counted in `flicker_shuffle_fetched_bytes_total` or, if it could not be
    /// had, in `flicker_shuffle_fetch_failures_total` (the task fails on it: once per failure).
    fn next_block(&mut self) -> Option<Result<Vec<u8>, TaskCause>> {
        let block = self.read_next()?;
        match &block {
            Ok(bytes) => {
                metrics::counter!(flicker_metrics::SHUFFLE_FETCHED_BYTES).increment(bytes.len() as u64)
            }
            Err(_) => metrics::counter!(flicker_metrics::SHUFFLE_FETCH_FAILURES).increment(1),
        }
        Some(block)
    }

    /// Keeps the buffer of a block the fetcher decoded, for the fetcher's later blocks; a block
    /// read from this node's store is dropped (in local mode no block is ever fetched, and a
    /// kept buffer would only hold memory).
    fn give_back(&mut self, block: Vec<u8>) {
        if self.fetched_last {
            self.buffers.give_back(block);
        }
    }
}

impl FetchedBlocks<'_> {
    /// The next block: from this process's BTS first, then as the fetcher delivers them.
    fn read_next(&mut self) -> Option<Result<Vec<u8>, TaskCause>> {
        if let Some((store, output)) = self.local.next() {
            self.fetched_last = false;
            return Some(store.read_partition(&output.id, self.partition.0).map_err(|error| {
                let lost = LostMapOutput { id: output.id.clone(), bts: output.bts, unreachable: false };
                TaskCause::Fetch { lost, reason: error.to_string() }
            }));
        }
        let next = self.io.block_on(self.receiver.recv())?;
        self.fetched_last = true;
        Some(next.map_err(|failure| TaskCause::Fetch {
            lost: LostMapOutput {
                id: failure.map_output,
                bts: failure.bts,
                // Network failures were retried already: the BTS is gone.
                unreachable: failure.error.is_retryable(),
            },
            reason: failure.error.to_string(),
        }))
    }
}

/// The report of an attempt that failed with `cause` before its task could start.
fn report_failure(cause: &TaskCause) -> TaskReport {
    TaskReport::Failed(TaskFailure { kind: cause.kind(), step: None, message: cause.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(map_task: u32) -> MapOutputId {
        MapOutputId { job: JobId("job-1".into()), stage: StageId(0), map_task: TaskIndex(map_task) }
    }

    /// The locations of map tasks 0 and 1's outputs, said to be on `bts`, of `bytes` each.
    fn held_here(bts: SocketAddr, bytes: u64) -> Vec<MapOutputLocation> {
        (0..2).map(|m| MapOutputLocation { id: output(m), bts, bytes }).collect()
    }

    /// A reader of partition 0 of `locations`, all on this node's `store`: nothing is fetched
    /// from elsewhere (the fetcher's channel is closed).
    fn local_blocks<'a>(
        store: &'a ShuffleStore,
        locations: &'a [MapOutputLocation],
        runtime: &'a tokio::runtime::Runtime,
        buffers: &'a BlockBuffers,
    ) -> FetchedBlocks<'a> {
        let (_, receiver) = mpsc::channel(1);
        let local = locations.iter().map(|location| (store, location)).collect::<Vec<_>>();
        let partition = PartitionId(0);
        let io = runtime.handle();
        FetchedBlocks { local: local.into_iter(), partition, receiver, io, buffers, fetched_last: false }
    }

    #[test]
    fn a_block_read_from_this_node_s_store_is_not_kept_for_fetches() {
        let dir = tempfile::tempdir().unwrap();
        let store = ShuffleStore::with_memory(dir.path(), 1 << 20);
        let large = vec![b'x'; 4 << 20];
        for map_task in 0..2 {
            store.write_map_output(&output(map_task), std::slice::from_ref(&large)).unwrap();
        }
        let locations = held_here("127.0.0.1:7000".parse().unwrap(), large.len() as u64);
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let buffers = BlockBuffers::default();
        let mut blocks = local_blocks(&store, &locations, &runtime, &buffers);
        while let Some(block) = blocks.next_block() {
            let block = block.unwrap();
            assert_eq!(block, large);
            blocks.give_back(block);
        }
        assert_eq!(buffers.kept_bytes(), 0, "no fetch would ever decode into them");
        // A buffer of that size is kept when handed back as a fetched block's.
        blocks.fetched_last = true;
        blocks.give_back(large);
        assert_eq!(buffers.kept_bytes(), 4 << 20);
    }

    #[test]
    fn blocks_held_here_are_read_from_the_store_and_a_damaged_one_names_its_map_output() {
        let dir = tempfile::tempdir().unwrap();
        let store = ShuffleStore::with_memory(dir.path(), 1 << 20);
        for map_task in 0..2 {
            store
                .write_map_output(&output(map_task), &[format!("block of {map_task}").into_bytes()])
                .unwrap();
        }
        assert!(store.damage(&output(1)).unwrap());
        let here: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        let locations = held_here(here, 10);
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let buffers = BlockBuffers::default();
        let mut blocks = local_blocks(&store, &locations, &runtime, &buffers);

        assert_eq!(blocks.next_block().unwrap().unwrap(), b"block of 0");
        match blocks.next_block() {
            Some(Err(TaskCause::Fetch { lost, .. })) => {
                assert_eq!(lost, LostMapOutput { id: output(1), bts: here, unreachable: false })
            }
            other => panic!("{other:?}"),
        }
        assert!(blocks.next_block().is_none());
    }

    #[test]
    fn blocks_read_are_counted_by_their_bytes_and_a_lost_one_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = ShuffleStore::with_memory(dir.path(), 1 << 20);
        store.write_map_output(&output(0), &[b"twelve bytes".to_vec()]).unwrap();
        // Map task 1's output was never stored here.
        let locations = held_here("127.0.0.1:7000".parse().unwrap(), 12);
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let buffers = BlockBuffers::default();
        let mut blocks = local_blocks(&store, &locations, &runtime, &buffers);

        let samples = flicker_metrics::recorded(|| while blocks.next_block().is_some() {}).unwrap();
        assert_eq!(
            samples,
            ["flicker_shuffle_fetch_failures_total 1", "flicker_shuffle_fetched_bytes_total 12"]
        );
    }

    #[test]
    fn only_the_blocks_of_this_process_bts_are_local() {
        let store = Arc::new(ShuffleStore::new(tempfile::tempdir().unwrap().path()));
        let here: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        let local = ShuffleTarget::Local { store, address: here };
        assert!(local.local_store(here).is_some());
        assert!(local.local_store("127.0.0.1:7001".parse().unwrap()).is_none());
        assert!(ShuffleTarget::Remote(here).local_store(here).is_none());
    }
}
