//! Faults an executor injects on purpose, so that tests can check recovery with real processes.
//! None is active unless named with `flicker executor --inject-fault`.

use flicker_protocol::{AttemptId, StageId, TaskIndex};
use std::str::FromStr;

/// One fault to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Damage the map output of the first attempt of a task on disk, after it was written:
    /// `corrupt-map-output=STAGE:TASK`.
    CorruptMapOutput {
        /// The stage.
        stage: StageId,
        /// The task's index.
        task: TaskIndex,
    },
}

impl FromStr for Fault {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let usage = || format!("unknown fault {text:?} (known: corrupt-map-output=STAGE:TASK)");
        let (kind, at) = text.split_once('=').ok_or_else(usage)?;
        let (stage, task) = at.split_once(':').ok_or_else(usage)?;
        let number =
            |n: &str| n.parse::<u32>().map_err(|_| format!("{n:?} in fault {text:?} is not a number"));
        match kind {
            "corrupt-map-output" => {
                Ok(Fault::CorruptMapOutput { stage: StageId(number(stage)?), task: TaskIndex(number(task)?) })
            }
            _ => Err(usage()),
        }
    }
}

/// The faults an executor injects.
#[derive(Debug, Clone, Default)]
pub struct Faults(pub Vec<Fault>);

impl Faults {
    /// Whether the map output of `attempt` of task `task` of `stage` is to be damaged.
    pub fn corrupts(&self, stage: StageId, task: TaskIndex, attempt: AttemptId) -> bool {
        attempt == AttemptId(0) && self.0.contains(&Fault::CorruptMapOutput { stage, task })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_or_say_what_is_known() {
        let fault: Fault = "corrupt-map-output=0:3".parse().unwrap();
        assert_eq!(fault, Fault::CorruptMapOutput { stage: StageId(0), task: TaskIndex(3) });
        let faults = Faults(vec![fault]);
        assert!(faults.corrupts(StageId(0), TaskIndex(3), AttemptId(0)));
        assert!(!faults.corrupts(StageId(0), TaskIndex(3), AttemptId(1)), "only the first attempt");
        assert!("explode=1:2".parse::<Fault>().unwrap_err().contains("known: corrupt-map-output"));
        assert!("corrupt-map-output=x:2".parse::<Fault>().unwrap_err().contains("not a number"));
    }
}
