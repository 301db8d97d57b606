//! The planner: manifest → DAG → stages cut at shuffles. Pure: no I/O, no plugins loaded.
//!
//! Every stage is a pipeline: one input (a source's splits, one partition of an aggregate's
//! shuffle, or one partition of each input of a co-group), a chain of fused narrow steps (parse,
//! maps), and one output (the map side of a shuffle, or a sink). An aggregate cuts the DAG in two:
//! its `update`/`partials` end the stage upstream (map-side combine), its `merge`/`finish` start
//! the stage downstream. A co-group step (a join) cuts it into one map-side stage per input, each
//! ending with the step's `prepare` and a hash partitioning by its key into the same partitions,
//! and the stage downstream, whose tasks each read one partition of every input's shuffle (a
//! co-partitioned stage) and start with the step's `cogroup`. A narrow step that feeds several
//! terminals is part of each of their stages (recomputed, like an uncached Spark RDD), so every
//! stage stays a straight line.

use flicker_manifest::{Manifest, OperatorKind};
use std::collections::{HashMap, HashSet};

pub use flicker_protocol::StageId;

/// Where a stage's tasks read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageInput {
    /// One task per split of the source's objects.
    Source {
        /// The source's id.
        source: String,
    },
    /// One task per partition of an aggregate's shuffle, written by earlier stages (one, or one
    /// per input of a union before the aggregate). The tasks start with the aggregate's `merge`
    /// of every map output, then `finish`.
    Shuffle {
        /// The stages that wrote the shuffle.
        stages: Vec<StageId>,
        /// The aggregate step's id.
        aggregate: String,
        /// Number of partitions (= tasks of this stage).
        partitions: u32,
    },
    /// One task reading every block of a gather (the rows of a single-file sink), written by
    /// earlier stages.
    Gathered {
        /// The stages that gathered the rows.
        stages: Vec<StageId>,
    },
    /// One task per partition of the shuffles of a co-group step's inputs, partitioned alike.
    /// The tasks start with the step's `cogroup` of the partition's rows of every input.
    CoGroup {
        /// The co-group step's id.
        step: String,
        /// The stages that wrote each input's shuffle (one, or one per input of a union), in
        /// the step's input order.
        inputs: Vec<Vec<StageId>>,
        /// Number of partitions (= tasks of this stage).
        partitions: u32,
    },
    /// One task per range of a sort step's order, written by earlier stages (one, or one per
    /// input of a union) range-partitioned alike: task `n` sorts the rows of range `n`, so that
    /// the tasks' outputs in task order are the whole input sorted.
    Sorted {
        /// The sort step's id.
        step: String,
        /// The stages that wrote the ranges.
        stages: Vec<StageId>,
        /// Number of ranges (= tasks of this stage).
        partitions: u32,
    },
}

impl StageInput {
    /// The stages whose output a task reads, per input: one input but for a co-group; none for
    /// a source.
    pub fn upstream(&self) -> Vec<Vec<StageId>> {
        match self {
            StageInput::Shuffle { stages, .. }
            | StageInput::Gathered { stages }
            | StageInput::Sorted { stages, .. } => vec![stages.clone()],
            StageInput::CoGroup { inputs, .. } => inputs.clone(),
            StageInput::Source { .. } => Vec::new(),
        }
    }
}

/// Where a stage's tasks write to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageOutput {
    /// Map side of an aggregate: `update` per batch, `partials` at the end, hash-partitioned by key.
    Shuffle {
        /// The aggregate step's id.
        aggregate: String,
        /// Number of partitions.
        partitions: u32,
        /// Whether the stage's last step already emits the aggregate's partials (a standard
        /// aggregate fused into `std:parse-csv`, see `fuse`): its batches are merged, not updated.
        combined: bool,
    },
    /// Map side of one input of a co-group step: the step's `prepare` keys each batch, whose rows
    /// are hash-partitioned by that key.
    CoGroupInput {
        /// The co-group step's id.
        step: String,
        /// Which of the step's inputs the stage computes (from 0).
        input: u32,
        /// Number of partitions.
        partitions: u32,
    },
    /// A sort's sample: each task reports a sample of the sort keys of its rows, from which the
    /// range boundaries of the sort are chosen (the first pass over the sort's input).
    Sample {
        /// The sort step's id.
        step: String,
    },
    /// Map side of a sort (the second pass over its input): rows range-partitioned by the sort's
    /// order, at the boundaries chosen from the samples the `samples` stages reported.
    Range {
        /// The sort step's id.
        step: String,
        /// Number of ranges.
        partitions: u32,
        /// The stages that sampled the input.
        samples: Vec<StageId>,
    },
    /// The rows of a single-file sink, gathered into one partition for the one task that writes
    /// them.
    Gather {
        /// The sink.
        sink: String,
    },
    /// A sink: each task formats its rows into one part of the output.
    Sink {
        /// The sink's id.
        sink: String,
    },
}

/// One stage of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagePlan {
    /// Its id.
    pub id: StageId,
    /// What its tasks read.
    pub input: StageInput,
    /// The fused narrow steps, in order (a parse first when the input is a source).
    pub steps: Vec<String>,
    /// The co-group steps among `steps` that run narrow (broadcast joins), with the input each
    /// task reads whole.
    pub kept: Vec<Kept>,
    /// What its tasks write.
    pub output: StageOutput,
}

/// A co-group step run narrow, in the stages of its streamed input (a broadcast join: `std:join`
/// with `broadcast = "left"` or `"right"`): its kept input is computed by earlier stages into one
/// partition, which every task of the streaming stage reads whole before its first batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// The co-group step.
    pub step: String,
    /// Which of its inputs is kept (from 0).
    pub input: u32,
    /// The stages that computed it (one, or one per input of a union).
    pub stages: Vec<StageId>,
}

impl StagePlan {
    /// The steps and sink whose operators each task of the stage holds at once, in the order it
    /// makes them: the aggregate or co-group it reads, its fused steps, and the aggregate,
    /// co-group or sink it writes.
    pub fn operators(&self) -> impl Iterator<Item = &str> {
        let input = match &self.input {
            StageInput::Shuffle { aggregate: step, .. } | StageInput::CoGroup { step, .. } => {
                Some(step.as_str())
            }
            StageInput::Source { .. } | StageInput::Gathered { .. } | StageInput::Sorted { .. } => None,
        };
        let output = match &self.output {
            StageOutput::Shuffle { aggregate: step, .. } | StageOutput::CoGroupInput { step, .. } => {
                Some(step.as_str())
            }
            StageOutput::Sink { sink } => Some(sink.as_str()),
            StageOutput::Gather { .. } | StageOutput::Sample { .. } | StageOutput::Range { .. } => None,
        };
        input.into_iter().chain(self.steps.iter().map(String::as_str)).chain(output)
    }

    /// The stages this one reads from, in its input order: none for a stage reading a source.
    pub fn depends_on(&self) -> Vec<StageId> {
        let kept = self.kept.iter().flat_map(|kept| kept.stages.iter().copied());
        let samples = match &self.output {
            StageOutput::Range { samples, .. } => samples.as_slice(),
            _ => &[],
        };
        let upstream = self.input.upstream().concat().into_iter().chain(kept);
        upstream.chain(samples.iter().copied()).collect()
    }
}

/// A job's stages, in dependency order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobPlan {
    /// The stages; a stage only depends on stages before it.
    pub stages: Vec<StagePlan>,
}

/// Why a manifest cannot be planned (only for manifests that skipped validation).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// An input names nothing known.
    #[error("{id:?} reads {input:?}, which is neither a source nor a step")]
    UnknownInput {
        /// The step or sink.
        id: String,
        /// What it reads.
        input: String,
    },
    /// A step's kind has no place in a pipeline.
    #[error("step {id:?} is a {kind} operator, which cannot be used at that place")]
    Misplaced {
        /// The step.
        id: String,
        /// Its kind.
        kind: OperatorKind,
    },
    /// Unions multiply into more stages than a job may have.
    #[error(
        "{id:?} would run in {branches} stages (unions of unions of the same steps), more than the {max} a job may have"
    )]
    TooManyStages {
        /// The union step.
        id: String,
        /// The branches it would have.
        branches: usize,
        /// [`MAX_STAGES`].
        max: usize,
    },
    /// The input graph loops.
    #[error("the inputs of {id:?} form a cycle")]
    Cycle {
        /// A step on the cycle.
        id: String,
    },
}

/// A `std:join` the scheduler broadcasts because one of its inputs is small ([`small_sides`]):
/// the step and its kept input.
pub type ChosenBroadcast = (String, u32);

/// Plans a validated manifest. `kind_of` gives each step's operator kind (from its plugin);
/// `default_partitions` applies to aggregates without `partitions`; the joins of `broadcasts`
/// are broadcast as if their config said so.
pub fn plan(
    manifest: &Manifest,
    kind_of: &dyn Fn(&str) -> OperatorKind,
    default_partitions: u32,
    broadcasts: &[ChosenBroadcast],
) -> Result<JobPlan, PlanError> {
    let mut planner = Planner {
        manifest,
        kind_of,
        default_partitions,
        stages: Vec::new(),
        aggregates: HashMap::new(),
        cogroups: HashMap::new(),
        kept: HashMap::new(),
        broadcasts,
        sorts: HashMap::new(),
        // A gather holds its blocks in the order they come: a sort read by a single-file sink
        // sorts in one range, whose task writes the one object itself.
        one_range: manifest
            .sinks
            .iter()
            .filter(|s| s.single_file)
            .filter_map(|s| sort_before(manifest, kind_of, &s.input))
            .collect(),
    };
    for sink in &manifest.sinks {
        let branches = planner.pipeline(&sink.id, &sink.input, 0)?;
        let sink_output = || StageOutput::Sink { sink: sink.id.clone() };
        let one_task = |input: &StageInput| {
            matches!(
                input,
                StageInput::Shuffle { partitions: 1, .. }
                    | StageInput::CoGroup { partitions: 1, .. }
                    | StageInput::Sorted { partitions: 1, .. }
            )
        };
        let one_task = matches!(branches.as_slice(), [branch] if one_task(&branch.input));
        if !sink.single_file || one_task {
            // A task per partition or split of each branch writes a part.
            for branch in branches {
                planner.push(branch, sink_output());
            }
            continue;
        }
        // One object: the rows of every branch are gathered for one task to write (their steps
        // run before).
        let stages = branches
            .into_iter()
            .map(|branch| planner.push(branch, StageOutput::Gather { sink: sink.id.clone() }))
            .collect();
        planner.push(Branch::reading(StageInput::Gathered { stages }), sink_output());
    }
    Ok(JobPlan { stages: planner.stages })
}

/// Where the rows reaching a step come from (a source or a shuffle), and the narrow steps they
/// pass on the way, in order. A union step gives one branch per input (for each, its own stages);
/// anything else one.
#[derive(Clone)]
struct Branch {
    input: StageInput,
    steps: Vec<String>,
    /// The broadcast joins among `steps`.
    kept: Vec<Kept>,
}

impl Branch {
    /// The rows of `input` as they come.
    fn reading(input: StageInput) -> Self {
        Self { input, steps: Vec::new(), kept: Vec::new() }
    }
}

struct Planner<'m> {
    manifest: &'m Manifest,
    kind_of: &'m dyn Fn(&str) -> OperatorKind,
    default_partitions: u32,
    stages: Vec<StagePlan>,
    /// The map-side stages planned for each aggregate step, with its partition count.
    aggregates: HashMap<String, (Vec<StageId>, u32)>,
    /// The map-side stages planned for each co-group step (per input), with its partition
    /// count.
    cogroups: HashMap<String, (Vec<Vec<StageId>>, u32)>,
    /// The stages planned for the kept input of each broadcast join.
    kept: HashMap<String, Vec<StageId>>,
    /// The joins broadcast because a side is small.
    broadcasts: &'m [ChosenBroadcast],
    /// The map-side stages planned for each sort step, with its partition count.
    sorts: HashMap<String, (Vec<StageId>, u32)>,
    /// The sort steps to sort in one range.
    one_range: HashSet<String>,
}

impl Planner<'_> {
    fn push(&mut self, branch: Branch, output: StageOutput) -> StageId {
        let id = StageId(self.stages.len() as u32);
        let Branch { input, steps, kept } = branch;
        self.stages.push(StagePlan { id, input, steps, kept, output });
        id
    }

    /// Walks back from `input` (read by `reader`) through narrow steps to sources or shuffles,
    /// planning the map-side stages of aggregates and co-groups on the way.
    fn pipeline(&mut self, reader: &str, input: &str, depth: usize) -> Result<Vec<Branch>, PlanError> {
        if depth > self.manifest.steps.len() + 1 {
            return Err(PlanError::Cycle { id: reader.to_owned() });
        }
        if self.manifest.sources.iter().any(|s| s.id == input) {
            return Ok(vec![Branch::reading(StageInput::Source { source: input.to_owned() })]);
        }
        let step = self
            .manifest
            .steps
            .iter()
            .find(|s| s.id == input)
            .ok_or_else(|| PlanError::UnknownInput { id: reader.to_owned(), input: input.to_owned() })?;
        if step.is_union() {
            let mut branches = Vec::new();
            for input in &step.inputs {
                branches.extend(self.pipeline(&step.id, input, depth + 1)?);
                if branches.len() > MAX_STAGES {
                    let (id, max) = (step.id.clone(), MAX_STAGES);
                    return Err(PlanError::TooManyStages { id, branches: branches.len(), max });
                }
            }
            return Ok(branches);
        }
        let only_input = || match step.inputs.as_slice() {
            [input] => Ok(input.as_str()),
            _ => Err(PlanError::Misplaced { id: step.id.clone(), kind: (self.kind_of)(&step.plugin) }),
        };
        if step.plugin == SORT {
            let (stages, partitions) = match self.sorts.get(&step.id) {
                Some(planned) => planned.clone(),
                None => {
                    // Spark's sortByKey: a first pass samples the input for range boundaries, a
                    // second one range-partitions it, a task per range sorts it.
                    let partitions = match self.one_range.contains(&step.id) {
                        true => 1,
                        false => step.partitions.unwrap_or(self.default_partitions).max(1),
                    };
                    let branches = self.pipeline(&step.id, only_input()?, depth + 1)?;
                    let sample = StageOutput::Sample { step: step.id.clone() };
                    let samples: Vec<StageId> =
                        branches.iter().map(|branch| self.push(branch.clone(), sample.clone())).collect();
                    let range = StageOutput::Range { step: step.id.clone(), partitions, samples };
                    let stages: Vec<StageId> =
                        branches.into_iter().map(|branch| self.push(branch, range.clone())).collect();
                    self.sorts.insert(step.id.clone(), (stages.clone(), partitions));
                    (stages, partitions)
                }
            };
            return Ok(vec![Branch::reading(StageInput::Sorted {
                step: step.id.clone(),
                stages,
                partitions,
            })]);
        }
        match (self.kind_of)(&step.plugin) {
            OperatorKind::Parse | OperatorKind::Map => {
                let mut branches = self.pipeline(&step.id, only_input()?, depth + 1)?;
                for branch in &mut branches {
                    branch.steps.push(step.id.clone());
                }
                Ok(branches)
            }
            OperatorKind::Aggregate => {
                let (stages, partitions) = match self.aggregates.get(&step.id) {
                    Some(planned) => planned.clone(),
                    None => {
                        let partitions = match global(step) {
                            true => 1,
                            false => step.partitions.unwrap_or(self.default_partitions).max(1),
                        };
                        let output =
                            StageOutput::Shuffle { aggregate: step.id.clone(), partitions, combined: false };
                        let stages = self.map_side(&step.id, only_input()?, depth, output)?;
                        self.aggregates.insert(step.id.clone(), (stages.clone(), partitions));
                        (stages, partitions)
                    }
                };
                let input = StageInput::Shuffle { stages, aggregate: step.id.clone(), partitions };
                Ok(vec![Branch::reading(input)])
            }
            OperatorKind::CoGroup if let Some(kept) = broadcast_input(step, self.broadcasts) => {
                // The kept input whole in one partition, read by every task of the other's stages.
                let stages = match self.kept.get(&step.id) {
                    Some(stages) => stages.clone(),
                    None => {
                        let output =
                            StageOutput::CoGroupInput { step: step.id.clone(), input: kept, partitions: 1 };
                        let stages = self.map_side(&step.id, &step.inputs[kept as usize], depth, output)?;
                        self.kept.insert(step.id.clone(), stages.clone());
                        stages
                    }
                };
                let streamed = &step.inputs[1 - kept as usize];
                let mut branches = self.pipeline(&step.id, streamed, depth + 1)?;
                for branch in &mut branches {
                    branch.steps.push(step.id.clone());
                    branch.kept.push(Kept { step: step.id.clone(), input: kept, stages: stages.clone() });
                }
                Ok(branches)
            }
            OperatorKind::CoGroup => {
                let (inputs, partitions) = match self.cogroups.get(&step.id) {
                    Some(planned) => planned.clone(),
                    None => {
                        let partitions = step.partitions.unwrap_or(self.default_partitions).max(1);
                        let mut inputs = Vec::with_capacity(step.inputs.len());
                        for (index, input) in step.inputs.iter().enumerate() {
                            let output = StageOutput::CoGroupInput {
                                step: step.id.clone(),
                                input: index as u32,
                                partitions,
                            };
                            inputs.push(self.map_side(&step.id, input, depth, output)?);
                        }
                        self.cogroups.insert(step.id.clone(), (inputs.clone(), partitions));
                        (inputs, partitions)
                    }
                };
                Ok(vec![Branch::reading(StageInput::CoGroup { step: step.id.clone(), inputs, partitions })])
            }
            OperatorKind::Format => {
                Err(PlanError::Misplaced { id: step.id.clone(), kind: OperatorKind::Format })
            }
        }
    }

    /// Plans a stage writing `output` for each branch of `input` (read by step `reader`).
    fn map_side(
        &mut self,
        reader: &str,
        input: &str,
        depth: usize,
        output: StageOutput,
    ) -> Result<Vec<StageId>, PlanError> {
        let branches = self.pipeline(reader, input, depth + 1)?;
        Ok(branches.into_iter().map(|branch| self.push(branch, output.clone())).collect())
    }
}

/// The most branches a union may make (each a stage of its own at least): a union may name a step
/// twice, and a union of such unions multiplies them.
pub const MAX_STAGES: usize = 1000;

/// The plugin of a global sort, which the planner cuts into a sample, a range shuffle and sorted
/// ranges (its component only checks its config and fields).
pub const SORT: &str = "std:sort";

/// The sort step whose rows reach `input` through map steps only, if there is one.
fn sort_before(manifest: &Manifest, kind_of: &dyn Fn(&str) -> OperatorKind, input: &str) -> Option<String> {
    let mut id = input;
    for _ in 0..=manifest.steps.len() {
        let step = manifest.steps.iter().find(|s| s.id == id)?;
        if step.plugin == SORT {
            return Some(step.id.clone());
        }
        // (A union has no kind to ask for.)
        match step.inputs.as_slice() {
            [input] if !step.is_union() && kind_of(&step.plugin) == OperatorKind::Map => id = input,
            _ => return None,
        }
    }
    None
}

/// The input of `step` that is broadcast, if it is a `std:join` of two inputs with `broadcast =
/// "left"` (0) or `"right"` (1), which the join checked against its `how`, or, without a
/// `broadcast`, one the scheduler chose (`chosen`).
fn broadcast_input(step: &flicker_manifest::Step, chosen: &[ChosenBroadcast]) -> Option<u32> {
    if step.plugin != JOIN || step.inputs.len() != 2 {
        return None;
    }
    match config(step, "broadcast") {
        Some("left") => Some(0),
        Some("right") => Some(1),
        Some(_) => None,
        None => chosen.iter().find(|(id, _)| *id == step.id).map(|&(_, kept)| kept.min(1)),
    }
}

/// The value of config key `key` of `step`, trimmed.
fn config<'s>(step: &'s flicker_manifest::Step, key: &str) -> Option<&'s str> {
    step.config.iter().find(|(k, _)| k == key).map(|(_, value)| value.trim())
}

/// The joins whose config leaves `broadcast` unset and one of whose inputs is small: at most
/// `threshold` bytes of source objects reach it through parse, map and union steps only
/// (`source_bytes` gives each source's size), and the join's `how` lets that side be kept (the
/// right for `inner`, `left`, `semi`, `anti`; the left for `inner`, `right`). The right side is
/// preferred (Spark's `autoBroadcastJoinThreshold`).
pub fn small_sides(
    manifest: &Manifest,
    kind_of: &dyn Fn(&str) -> OperatorKind,
    source_bytes: &dyn Fn(&str) -> Option<u64>,
    threshold: u64,
) -> Vec<ChosenBroadcast> {
    let small = |input: &str| {
        narrow_bytes(manifest, kind_of, source_bytes, input, manifest.steps.len() + 1)
            .is_some_and(|bytes| bytes <= threshold)
    };
    let joins = manifest.steps.iter().filter(|s| s.plugin == JOIN && s.inputs.len() == 2);
    joins
        .filter(|step| config(step, "broadcast").is_none())
        .filter_map(|step| {
            let how = config(step, "how").unwrap_or("inner");
            let right = matches!(how, "inner" | "left" | "semi" | "anti") && small(&step.inputs[1]);
            let left = matches!(how, "inner" | "right") && small(&step.inputs[0]);
            let kept = if right {
                1
            } else if left {
                0
            } else {
                return None;
            };
            Some((step.id.clone(), kept))
        })
        .collect()
}

/// The bytes of source objects whose rows reach `id` through parse, map and union steps only;
/// `None` past anything else (a shuffle changes the size) or `depth` steps.
fn narrow_bytes(
    manifest: &Manifest,
    kind_of: &dyn Fn(&str) -> OperatorKind,
    source_bytes: &dyn Fn(&str) -> Option<u64>,
    id: &str,
    depth: usize,
) -> Option<u64> {
    if manifest.sources.iter().any(|s| s.id == id) {
        return source_bytes(id);
    }
    let step = manifest.steps.iter().find(|s| s.id == id)?;
    let narrow = step.is_union()
        || (step.plugin != SORT && matches!(kind_of(&step.plugin), OperatorKind::Parse | OperatorKind::Map));
    if !narrow || depth == 0 {
        return None;
    }
    step.inputs.iter().try_fold(0u64, |sum, input| {
        Some(sum.saturating_add(narrow_bytes(manifest, kind_of, source_bytes, input, depth - 1)?))
    })
}

/// The standard join, whose `broadcast` the planner reads.
const JOIN: &str = "std:join";

/// The most bytes of source objects a join's side may have for the scheduler to broadcast it
/// when the join's config does not say: 10 MiB, as Spark's `autoBroadcastJoinThreshold`.
pub const AUTO_BROADCAST_BYTES: u64 = 10 << 20;

/// Whether `step` is an aggregate over all rows whatever their key, which one reduce task must
/// finish: `std:top-k` unless `per_key = "true"`.
fn global(step: &flicker_manifest::Step) -> bool {
    let per_key = config(step, "per_key") == Some("true");
    step.plugin == "std:top-k" && !per_key
}

/// The split size of a source without `split_size`: at least four splits per task slot, no split
/// over `max` (Spark's `maxPartitionBytes` rule), and as many splits as a whole number of waves
/// of the slots, so that the last wave keeps every slot busy (11 splits on 2 slots leave one
/// slot idle for the last; 12 do not); at least 1 MiB.
pub fn split_size_for(total_bytes: u64, slots: usize, max: u64) -> u64 {
    let (slots, max) = (slots.max(1) as u64, max.max(1 << 20));
    let splits = total_bytes.div_ceil(max).max(4 * slots).next_multiple_of(slots);
    total_bytes.div_ceil(splits).clamp(1 << 20, max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn kind(plugin: &str) -> OperatorKind {
        match plugin {
            "std:parse-csv" | "std:parse-lines" => OperatorKind::Parse,
            "std:max" | "std:count" | "std:stats" | "std:top-k" => OperatorKind::Aggregate,
            "std:format-csv" => OperatorKind::Format,
            "std:join" => OperatorKind::CoGroup,
            _ => OperatorKind::Map,
        }
    }

    fn planned(text: &str) -> JobPlan {
        let manifest = Manifest::parse(Path::new("job.toml"), text).unwrap();
        plan(&manifest, &kind, 6, &[]).unwrap()
    }

    /// The reference job: parse → key-by → max (4 partitions) → CSV.
    const REFERENCE: &str = include_str!("../../../examples/max-temperature/job.toml");

    #[test]
    fn reference_job_fuses_narrow_steps_and_cuts_at_the_aggregate() {
        let plan = planned(REFERENCE);
        assert_eq!(
            plan.stages,
            vec![
                StagePlan {
                    id: StageId(0),
                    input: StageInput::Source { source: "readings".into() },
                    steps: vec!["parse".into(), "by-station".into()],
                    kept: Vec::new(),
                    output: StageOutput::Shuffle { aggregate: "max".into(), partitions: 4, combined: false },
                },
                StagePlan {
                    id: StageId(1),
                    input: StageInput::Shuffle {
                        stages: vec![StageId(0)],
                        aggregate: "max".into(),
                        partitions: 4
                    },
                    steps: vec![],
                    kept: Vec::new(),
                    output: StageOutput::Sink { sink: "out".into() },
                },
            ]
        );
    }

    #[test]
    fn map_only_job_is_one_stage_and_default_partitions_apply() {
        let text = REFERENCE.replace("partitions = 4\n", "");
        assert_eq!(
            planned(&text).stages[0].output,
            StageOutput::Shuffle { aggregate: "max".into(), partitions: 6, combined: false }
        );
        let map_only = r#"
name = "filter"
[[source]]
id = "in"
url = "in/"
[[step]]
id = "parse"
input = "in"
plugin = "std:parse-csv"
[[step]]
id = "warm"
input = "parse"
plugin = "std:filter"
[[sink]]
id = "out"
input = "warm"
url = "out/"
plugin = "std:format-csv"
"#;
        let plan = planned(map_only);
        assert_eq!(plan.stages.len(), 1);
        assert_eq!(plan.stages[0].steps, ["parse", "warm"]);
        assert_eq!(plan.stages[0].output, StageOutput::Sink { sink: "out".into() });
    }

    #[test]
    fn two_sinks_share_one_aggregate_stage_and_chained_aggregates_make_three_stages() {
        let text = format!(
            "{REFERENCE}{}",
            r#"
[[step]]
id = "count-per-max"
input = "max"
plugin = "std:key-by"
[[step]]
id = "histogram"
input = "count-per-max"
plugin = "std:count"
partitions = 2
[[sink]]
id = "hist-out"
input = "histogram"
url = "hist/"
plugin = "std:format-csv"
"#
        );
        let plan = planned(&text);
        let outputs: Vec<_> = plan.stages.iter().map(|s| s.output.clone()).collect();
        assert_eq!(
            outputs,
            vec![
                StageOutput::Shuffle { aggregate: "max".into(), partitions: 4, combined: false },
                StageOutput::Sink { sink: "out".into() },
                StageOutput::Shuffle { aggregate: "histogram".into(), partitions: 2, combined: false },
                StageOutput::Sink { sink: "hist-out".into() },
            ]
        );
        assert_eq!(
            plan.stages[2].input,
            StageInput::Shuffle { stages: vec![StageId(0)], aggregate: "max".into(), partitions: 4 }
        );
        assert_eq!(plan.stages[2].steps, ["count-per-max"]);
        assert_eq!(plan.stages[3].depends_on(), [StageId(2)]);
    }

    /// Readings joined with stations (both parsed and filtered), then a max per country.
    const JOIN: &str = r#"name = "join"
[[source]]
id = "readings"
url = "readings/"
[[source]]
id = "station-list"
url = "stations/"
[[step]]
id = "parse"
input = "readings"
plugin = "std:parse-csv"
[[step]]
id = "stations"
input = "station-list"
plugin = "std:parse-csv"
[[step]]
id = "warm"
input = "parse"
plugin = "std:filter"
[[step]]
id = "joined"
input = ["warm", "stations"]
plugin = "std:join"
partitions = 3
[[step]]
id = "by-country"
input = "joined"
plugin = "std:key-by"
[[step]]
id = "max"
input = "by-country"
plugin = "std:max"
partitions = 2
[[sink]]
id = "out"
input = "max"
url = "out/"
plugin = "std:format-csv"
"#;

    #[test]
    fn a_join_is_a_map_side_stage_per_input_and_a_co_partitioned_stage() {
        let plan = planned(JOIN);
        assert_eq!(
            plan.stages,
            vec![
                StagePlan {
                    id: StageId(0),
                    input: StageInput::Source { source: "readings".into() },
                    steps: vec!["parse".into(), "warm".into()],
                    kept: Vec::new(),
                    output: StageOutput::CoGroupInput { step: "joined".into(), input: 0, partitions: 3 },
                },
                StagePlan {
                    id: StageId(1),
                    input: StageInput::Source { source: "station-list".into() },
                    steps: vec!["stations".into()],
                    kept: Vec::new(),
                    output: StageOutput::CoGroupInput { step: "joined".into(), input: 1, partitions: 3 },
                },
                StagePlan {
                    id: StageId(2),
                    input: StageInput::CoGroup {
                        step: "joined".into(),
                        inputs: vec![vec![StageId(0)], vec![StageId(1)]],
                        partitions: 3
                    },
                    steps: vec!["by-country".into()],
                    kept: Vec::new(),
                    output: StageOutput::Shuffle { aggregate: "max".into(), partitions: 2, combined: false },
                },
                StagePlan {
                    id: StageId(3),
                    input: StageInput::Shuffle {
                        stages: vec![StageId(2)],
                        aggregate: "max".into(),
                        partitions: 2
                    },
                    steps: vec![],
                    kept: Vec::new(),
                    output: StageOutput::Sink { sink: "out".into() },
                },
            ]
        );
        assert_eq!(plan.stages[2].depends_on(), [StageId(0), StageId(1)]);
        let operators: Vec<&str> = plan.stages[2].operators().collect();
        assert_eq!(operators, ["joined", "by-country", "max"]);
    }

    #[test]
    fn a_single_file_sink_gathers_its_rows_for_one_task_unless_they_come_from_one_partition() {
        let single = REFERENCE.replace("mode = \"overwrite\"", "mode = \"overwrite\"\nsingle_file = true");
        let plan = planned(&single);
        assert_eq!(plan.stages.len(), 3);
        assert_eq!(plan.stages[1].output, StageOutput::Gather { sink: "out".into() });
        assert_eq!(plan.stages[2].input, StageInput::Gathered { stages: vec![StageId(1)] });
        assert_eq!(plan.stages[2].depends_on(), [StageId(1)]);
        assert_eq!(plan.stages[2].operators().collect::<Vec<_>>(), ["out"]);
        assert_eq!(plan.stages[1].operators().collect::<Vec<_>>(), ["max"]);
        let one_partition = planned(&single.replace("partitions = 4", "partitions = 1"));
        assert_eq!(one_partition.stages.len(), 2, "one reduce task writes the one object");
    }

    #[test]
    fn a_global_top_k_has_one_partition_whatever_the_manifest_says() {
        let top = |config: &str| {
            REFERENCE.replace("plugin = \"std:max\"", "plugin = \"std:top-k\"").replace(
                "config = { field = \"temperature\" }",
                &format!("config = {{ n = \"3\", by = \"temperature\"{config} }}"),
            )
        };
        let global = planned(&top(""));
        assert_eq!(
            global.stages[1].input,
            StageInput::Shuffle { stages: vec![StageId(0)], aggregate: "max".into(), partitions: 1 }
        );
        let per_key = planned(&top(", per_key = \"true\""));
        assert_eq!(
            per_key.stages[1].input,
            StageInput::Shuffle { stages: vec![StageId(0)], aggregate: "max".into(), partitions: 4 }
        );
    }

    #[test]
    fn a_broadcast_join_runs_in_the_streamed_input_s_stage_and_keeps_the_other_whole() {
        let text = JOIN.replace("partitions = 3\n", "partitions = 3\nconfig = { broadcast = \"right\" }\n");
        let plan = planned(&text);
        assert_eq!(plan.stages[0].input, StageInput::Source { source: "station-list".into() });
        assert_eq!(
            plan.stages[0].output,
            StageOutput::CoGroupInput { step: "joined".into(), input: 1, partitions: 1 }
        );
        assert_eq!(plan.stages[1].steps, ["parse", "warm", "joined", "by-country"]);
        assert_eq!(plan.stages[1].kept, [Kept { step: "joined".into(), input: 1, stages: vec![StageId(0)] }]);
        assert_eq!(plan.stages[1].depends_on(), [StageId(0)]);
        assert_eq!(plan.stages.len(), 3, "no co-partitioned stage");
        let left = planned(&text.replace("broadcast = \"right\"", "broadcast = \"left\""));
        assert_eq!(left.stages[1].steps, ["stations", "joined", "by-country"]);
        assert_eq!(left.stages[1].kept[0].input, 0);
    }

    #[test]
    fn a_sort_samples_its_input_then_range_partitions_it_for_a_task_per_range() {
        let text = REFERENCE.replace("plugin = \"std:max\"", "plugin = \"std:sort\"");
        let plan = planned(&text);
        let shape: Vec<(StageInput, StageOutput)> =
            plan.stages.iter().map(|s| (s.input.clone(), s.output.clone())).collect();
        let source = StageInput::Source { source: "readings".into() };
        assert_eq!(
            shape,
            vec![
                (source.clone(), StageOutput::Sample { step: "max".into() }),
                (source, StageOutput::Range { step: "max".into(), partitions: 4, samples: vec![StageId(0)] }),
                (
                    StageInput::Sorted { step: "max".into(), stages: vec![StageId(1)], partitions: 4 },
                    StageOutput::Sink { sink: "out".into() }
                ),
            ]
        );
        assert_eq!(plan.stages[0].steps, plan.stages[1].steps, "both passes compute the input");
        assert_eq!(plan.stages[1].depends_on(), [StageId(0)]);
        assert_eq!(plan.stages[2].depends_on(), [StageId(1)]);
        assert_eq!(plan.stages[1].operators().collect::<Vec<_>>(), ["parse", "by-station"]);
    }

    #[test]
    fn a_sort_read_by_a_single_file_sink_sorts_in_one_range_which_writes_the_file() {
        let text = REFERENCE
            .replace("plugin = \"std:max\"", "plugin = \"std:sort\"")
            .replace("mode = \"overwrite\"", "mode = \"overwrite\"\nsingle_file = true");
        let plan = planned(&text);
        assert_eq!(plan.stages.len(), 3, "no gather, which would not keep the ranges' order");
        assert_eq!(
            plan.stages[2].input,
            StageInput::Sorted { step: "max".into(), stages: vec![StageId(1)], partitions: 1 }
        );
    }

    #[test]
    fn a_join_side_under_the_threshold_is_broadcast_unless_the_config_says() {
        let manifest = Manifest::parse(Path::new("job.toml"), JOIN).unwrap();
        let bytes =
            |readings: u64| move |source: &str| Some(if source == "readings" { readings } else { 1000 });
        // The stations are small; so, at 2000 bytes, are the readings.
        assert_eq!(small_sides(&manifest, &kind, &bytes(1 << 30), 5000), [("joined".to_owned(), 1)]);
        assert_eq!(small_sides(&manifest, &kind, &bytes(1 << 30), 999), []);
        let right = JOIN.replace("partitions = 3\n", "partitions = 3\nconfig = { how = \"right\" }\n");
        let right = Manifest::parse(Path::new("job.toml"), &right).unwrap();
        assert_eq!(small_sides(&right, &kind, &bytes(2000), 5000), [("joined".to_owned(), 0)]);
        assert_eq!(small_sides(&right, &kind, &bytes(1 << 30), 5000), []);
        let none = JOIN.replace("partitions = 3\n", "partitions = 3\nconfig = { broadcast = \"none\" }\n");
        let none = Manifest::parse(Path::new("job.toml"), &none).unwrap();
        assert_eq!(small_sides(&none, &kind, &bytes(0), 5000), []);
        // A side past a shuffle has no size to go by.
        let after_max = JOIN.replace("id = \"stations\"\ninput = \"station-list\"\nplugin = \"std:parse-csv\"", "id = \"stations\"\ninput = \"station-list\"\nplugin = \"std:parse-csv\"\n[[step]]\nid = \"agg\"\ninput = \"stations\"\nplugin = \"std:count\"").replace("[\"warm\", \"stations\"]", "[\"warm\", \"agg\"]");
        let after_max = Manifest::parse(Path::new("job.toml"), &after_max).unwrap();
        assert_eq!(small_sides(&after_max, &kind, &bytes(1 << 30), 5000), []);
        // The choice plans the join as its config would.
        let chosen = plan(&manifest, &kind, 6, &[("joined".to_owned(), 1)]).unwrap();
        let configured =
            JOIN.replace("partitions = 3\n", "partitions = 3\nconfig = { broadcast = \"right\" }\n");
        assert_eq!(chosen, planned(&configured));
    }

    #[test]
    fn a_self_join_computes_its_input_once_per_side() {
        let text = JOIN.replace(r#"input = ["warm", "stations"]"#, r#"input = ["warm", "warm"]"#);
        let plan = planned(&text);
        assert_eq!(plan.stages[0].steps, plan.stages[1].steps);
        assert_eq!(
            plan.stages[1].output,
            StageOutput::CoGroupInput { step: "joined".into(), input: 1, partitions: 3 }
        );
    }

    /// Two sources parsed alike, concatenated, then a max and a sink of the rows themselves.
    const UNION: &str = r#"name = "union"
[[source]]
id = "north"
url = "north/"
[[source]]
id = "south"
url = "south/"
[[step]]
id = "parse-north"
input = "north"
plugin = "std:parse-csv"
[[step]]
id = "parse-south"
input = "south"
plugin = "std:parse-csv"
[[step]]
id = "all"
input = ["parse-north", "parse-south"]
plugin = "std:union"
[[step]]
id = "warm"
input = "all"
plugin = "std:filter"
[[step]]
id = "max"
input = "warm"
plugin = "std:max"
partitions = 2
[[sink]]
id = "out"
input = "max"
url = "out/"
plugin = "std:format-csv"
[[sink]]
id = "rows"
input = "warm"
url = "rows/"
plugin = "std:format-csv"
"#;

    #[test]
    fn a_union_runs_the_steps_after_it_on_each_input_s_own_stages() {
        let plan = planned(UNION);
        let shape: Vec<(StageInput, Vec<String>, StageOutput)> =
            plan.stages.iter().map(|s| (s.input.clone(), s.steps.clone(), s.output.clone())).collect();
        let source = |source: &str| StageInput::Source { source: source.into() };
        let steps = |steps: &[&str]| steps.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let max = StageOutput::Shuffle { aggregate: "max".into(), partitions: 2, combined: false };
        let sink = |sink: &str| StageOutput::Sink { sink: sink.into() };
        assert_eq!(
            shape,
            vec![
                (source("north"), steps(&["parse-north", "warm"]), max.clone()),
                (source("south"), steps(&["parse-south", "warm"]), max),
                (
                    StageInput::Shuffle {
                        stages: vec![StageId(0), StageId(1)],
                        aggregate: "max".into(),
                        partitions: 2
                    },
                    vec![],
                    sink("out")
                ),
                (source("north"), steps(&["parse-north", "warm"]), sink("rows")),
                (source("south"), steps(&["parse-south", "warm"]), sink("rows")),
            ]
        );
        assert_eq!(plan.stages[2].depends_on(), [StageId(0), StageId(1)]);
    }

    #[test]
    fn unions_of_unions_that_multiply_past_the_stage_cap_are_refused() {
        let mut text = UNION.split("[[step]]\nid = \"all\"").next().unwrap().to_owned();
        let mut input = "parse-north".to_owned();
        for level in 0..4 {
            let inputs = vec![format!("\"{input}\""); 16].join(", ");
            text.push_str(&format!(
                "[[step]]\nid = \"u{level}\"\ninput = [{inputs}]\nplugin = \"std:union\"\n"
            ));
            input = format!("u{level}");
        }
        text.push_str(&format!(
            "[[sink]]\nid = \"out\"\ninput = \"{input}\"\nurl = \"out/\"\nplugin = \"std:format-csv\"\n"
        ));
        let manifest = Manifest::parse(Path::new("job.toml"), &text).unwrap();
        let error = plan(&manifest, &kind, 6, &[]).unwrap_err();
        assert!(matches!(&error, PlanError::TooManyStages { id, .. } if id == "u2"), "{error:?}");
    }

    #[test]
    fn a_union_before_a_join_or_a_single_file_feeds_it_from_every_input() {
        let joined = UNION.replace("plugin = \"std:max\"", "plugin = \"std:join\"").replace(
            "input = \"warm\"\nplugin = \"std:join\"",
            "input = [\"warm\", \"parse-north\"]\nplugin = \"std:join\"",
        );
        let plan = planned(&joined);
        assert_eq!(
            plan.stages[3].input,
            StageInput::CoGroup {
                step: "max".into(),
                inputs: vec![vec![StageId(0), StageId(1)], vec![StageId(2)]],
                partitions: 2
            }
        );
        let single = UNION.replace("url = \"rows/\"", "url = \"rows/\"\nsingle_file = true");
        let plan = planned(&single);
        let last = plan.stages.last().unwrap();
        assert_eq!(last.input, StageInput::Gathered { stages: vec![StageId(3), StageId(4)] });
        assert_eq!(last.output, StageOutput::Sink { sink: "rows".into() });
        assert_eq!(plan.stages[3].output, StageOutput::Gather { sink: "rows".into() });
    }

    #[test]
    fn split_size_gives_each_slot_four_splits_in_whole_waves_within_bounds() {
        assert_eq!(split_size_for(160 << 20, 2, 64 << 20), 20 << 20);
        assert_eq!(split_size_for(100 << 30, 2, 64 << 20), 64 << 20);
        // 672 MB at most 64 MiB a split is 11 splits: 12 keep both slots busy to the end.
        assert_eq!(split_size_for(672_000_000, 2, 64 << 20), 56_000_000);
        assert_eq!(split_size_for(672_000_000, 3, 64 << 20), 672_000_000_u64.div_ceil(12));
        assert_eq!(split_size_for(3 << 10, 2, 64 << 20), 1 << 20);
        assert_eq!(split_size_for(0, 0, 0), 1 << 20);
    }
}
