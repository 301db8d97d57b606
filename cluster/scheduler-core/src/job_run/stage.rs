//! One stage of a job being run: what its tasks read, their table, and what it writes.

use super::SinkPart;
use super::task_table::TaskTable;
use crate::plan::{StageInput, StageOutput, StagePlan};
use flicker_protocol::StageId;
use flicker_protocol::task::{TaskInput, TaskOutput};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// What the tasks of a stage read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StageTasks {
    /// One task per split of a source.
    Splits {
        /// The source's id.
        source: String,
        /// The splits, in task order.
        splits: Vec<SplitRange>,
    },
    /// One task per partition of the shuffle written by `upstream` (journals of earlier releases;
    /// read as [`Shuffled`](Self::Shuffled)).
    Partitions {
        /// The stage whose map outputs the tasks read.
        upstream: StageId,
    },
    /// One task per partition of the shuffles of a co-group step's inputs (journals of earlier
    /// releases; read as [`Shuffled`](Self::Shuffled)).
    CoPartitions {
        /// The stage computing each input, in the step's input order.
        upstream: Vec<StageId>,
    },
    /// One task per partition of the shuffles the stage reads, as its plan says (after the
    /// variants above, which journals of earlier releases hold): its tasks read partition `n` of
    /// every map output of every stage of each input.
    Shuffled,
}

impl StageTasks {
    /// The bytes of each source that `stages` read, from their splits (each object once): what a
    /// job's small join sides are chosen by ([`small_sides`](crate::plan::small_sides)), at
    /// submission and again from the journal.
    pub fn source_bytes(stages: &[StageTasks]) -> HashMap<String, u64> {
        let mut objects: HashMap<&str, HashMap<&str, u64>> = HashMap::new();
        for stage in stages {
            if let StageTasks::Splits { source, splits } = stage {
                let source = objects.entry(source).or_default();
                for split in splits {
                    source.insert(&split.object, split.object_size);
                }
            }
        }
        objects.into_iter().map(|(source, objects)| (source.to_owned(), objects.values().sum())).collect()
    }
}

/// A byte range of an input object (a split, as data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitRange {
    /// The object's path in the source's store.
    pub object: String,
    /// The object's size.
    pub object_size: u64,
    /// First byte.
    pub start: u64,
    /// End (exclusive).
    pub end: u64,
}

impl SplitRange {
    /// What the task reading this split of `source` reads.
    pub(crate) fn task_input(&self, source: &str) -> TaskInput {
        TaskInput::Split {
            source: source.to_owned(),
            object: self.object.clone(),
            object_size: self.object_size,
            start: self.start,
            end: self.end,
        }
    }
}

/// A stage of a running job.
#[derive(Debug, Clone)]
pub(crate) struct StageRun {
    pub(crate) id: StageId,
    /// The stage in words, for `flicker status`.
    pub(crate) description: String,
    /// The stages whose shuffles it reads.
    pub(crate) depends_on: Vec<StageId>,
    /// The stages whose shuffles it reads, per input of its plan.
    pub(crate) upstream: Vec<Vec<StageId>>,
    /// Whether its tasks start with a co-group of their inputs' partitions.
    pub(crate) co_group: bool,
    /// The stages that computed the kept input of each broadcast join it runs.
    pub(crate) kept: Vec<Vec<StageId>>,
    /// For the map side of a sort: the stages whose samples choose its range boundaries, and
    /// the number of ranges.
    pub(crate) samples: Option<(Vec<StageId>, u32)>,
    /// The range boundaries, once chosen (the samples never change once taken).
    pub(crate) boundaries: Option<Vec<Vec<u8>>>,
    pub(crate) input: StageTasks,
    pub(crate) tasks: TaskTable,
    /// Whether its tasks' input counters count towards the job's (a source read by several
    /// stages counts once).
    pub(crate) counts_input: bool,
    /// The sink it writes, if any.
    pub(crate) sink: Option<String>,
    /// What its tasks' finished attempts consumed.
    pub(crate) cost: flicker_protocol::tenant::Cost,
}

impl StageRun {
    /// The stage `plan` whose tasks read `input`; `counts_input` as the field says.
    pub(crate) fn new(plan: &StagePlan, input: StageTasks, counts_input: bool) -> Self {
        let count = match (&input, &plan.input) {
            (StageTasks::Splits { splits, .. }, _) => splits.len(),
            (
                _,
                StageInput::Shuffle { partitions, .. }
                | StageInput::CoGroup { partitions, .. }
                | StageInput::Sorted { partitions, .. },
            ) => *partitions as usize,
            (_, StageInput::Gathered { .. }) => 1,
            (_, StageInput::Source { .. }) => 0,
        };
        let sink = match &plan.output {
            StageOutput::Sink { sink } => Some(sink.clone()),
            StageOutput::Shuffle { .. }
            | StageOutput::CoGroupInput { .. }
            | StageOutput::Gather { .. }
            | StageOutput::Sample { .. }
            | StageOutput::Range { .. } => None,
        };
        StageRun {
            id: plan.id,
            description: describe(plan),
            depends_on: plan.depends_on(),
            upstream: plan.input.upstream(),
            co_group: matches!(plan.input, StageInput::CoGroup { .. }),
            kept: plan.kept.iter().map(|kept| kept.stages.clone()).collect(),
            samples: match &plan.output {
                StageOutput::Range { samples, partitions, .. } => Some((samples.clone(), *partitions)),
                _ => None,
            },
            boundaries: None,
            input,
            tasks: TaskTable::new(count),
            counts_input,
            sink,
            cost: flicker_protocol::tenant::Cost::default(),
        }
    }

    /// Whether every task succeeded.
    pub(crate) fn done(&self) -> bool {
        self.tasks.all_succeeded()
    }

    /// The parts its succeeded tasks wrote, for a stage writing a sink.
    pub(crate) fn sink_parts(&self) -> impl Iterator<Item = SinkPart> + '_ {
        self.tasks.iter().filter_map(|task| match &task.done()?.output {
            TaskOutput::Part { name, size, attempt } => {
                Some(SinkPart { name: name.clone(), size: *size, attempt: *attempt })
            }
            TaskOutput::MapOutput { .. } | TaskOutput::Sample { .. } => None,
        })
    }
}

/// A stage in words: `readings → parse → max (map side)`, `merge max → format (sink out)`.
fn describe(stage: &StagePlan) -> String {
    let mut parts = Vec::new();
    match &stage.input {
        StageInput::Source { source } => parts.push(format!("read {source}")),
        StageInput::Shuffle { aggregate, .. } => parts.push(format!("merge {aggregate}")),
        StageInput::Gathered { stages } => parts.push(format!("gathered by {}", stage_list(stages))),
        StageInput::Sorted { step, stages, .. } => {
            parts.push(format!("{step} (sort a range of {})", stage_list(stages)))
        }
        StageInput::CoGroup { step, inputs, .. } => {
            let inputs: Vec<String> = inputs.iter().map(|stages| stage_list(stages)).collect();
            parts.push(format!("{step} (co-group of {})", inputs.join(", ")))
        }
    }
    parts.extend(stage.steps.iter().map(|step| match stage.kept.iter().find(|kept| kept.step == *step) {
        Some(kept) => format!("{step} (keeps input {} whole, from {})", kept.input, stage_list(&kept.stages)),
        None => step.clone(),
    }));
    match &stage.output {
        StageOutput::Shuffle { aggregate, partitions, combined } => {
            let combined = if *combined { "combined in the parse, " } else { "" };
            parts.push(format!("{aggregate} ({combined}shuffle into {partitions})"))
        }
        StageOutput::CoGroupInput { step, input, partitions } => {
            parts.push(format!("{step} input {input} (shuffle into {partitions})"))
        }
        StageOutput::Gather { sink } => parts.push(format!("gather for {sink} (one file)")),
        StageOutput::Sample { step } => parts.push(format!("{step} (sample for range boundaries)")),
        StageOutput::Range { step, partitions, .. } => {
            parts.push(format!("{step} (range shuffle into {partitions})"))
        }
        StageOutput::Sink { sink } => parts.push(format!("write {sink}")),
    }
    parts.join(" → ")
}

/// `stage 3` or `stages 3+4` (the stages of a union's inputs).
fn stage_list(stages: &[StageId]) -> String {
    let ids: Vec<String> = stages.iter().map(|s| s.0.to_string()).collect();
    format!("{} {}", if ids.len() == 1 { "stage" } else { "stages" }, ids.join("+"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job_run::task::{TaskDone, TaskState};
    use flicker_protocol::task::TaskMetrics;
    use flicker_protocol::{AttemptId, ExecutorId, TaskIndex};

    fn sink_stage(partitions: u32) -> StagePlan {
        StagePlan {
            id: StageId(1),
            input: StageInput::Shuffle { stages: vec![StageId(0)], aggregate: "max".into(), partitions },
            steps: vec!["format".into()],
            kept: Vec::new(),
            output: StageOutput::Sink { sink: "out".into() },
        }
    }

    #[test]
    fn a_shuffle_reading_stage_has_a_task_per_partition_and_says_what_it_does() {
        let stage = StageRun::new(&sink_stage(3), StageTasks::Partitions { upstream: StageId(0) }, true);
        assert_eq!(stage.tasks.len(), 3);
        assert_eq!(stage.depends_on, [StageId(0)]);
        assert_eq!(stage.description, "merge max → format → write out");
    }

    #[test]
    fn sink_parts_are_those_of_the_succeeded_tasks() {
        let mut stage = StageRun::new(&sink_stage(3), StageTasks::Partitions { upstream: StageId(0) }, true);
        let part = |attempt| TaskDone {
            executor: ExecutorId("e".into()),
            bts: "127.0.0.1:1".parse().unwrap(),
            output: TaskOutput::Part {
                name: format!("part-{attempt}"),
                size: 4,
                attempt: AttemptId(attempt),
            },
            metrics: TaskMetrics::default(),
        };
        stage.tasks.set(TaskIndex(0), TaskState::Succeeded(part(2)));
        stage.tasks.set(TaskIndex(2), TaskState::Succeeded(part(0)));
        let names: Vec<_> = stage.sink_parts().map(|p| (p.name, p.attempt)).collect();
        assert_eq!(names, [("part-2".to_owned(), AttemptId(2)), ("part-0".to_owned(), AttemptId(0))]);
    }
}
