//! Faults an executor injects on purpose, so that tests can check recovery with real processes.
//! None is active unless named with `flicker executor --inject-fault`.

use flicker_protocol::{AttemptId, StageId, TaskIndex};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often a held task looks whether it may start.
const HOLD_POLL: Duration = Duration::from_millis(10);

/// One fault to inject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Damage the map output of the first attempt of a task on disk, after it was written:
    /// `corrupt-map-output=STAGE:TASK`.
    CorruptMapOutput {
        /// The stage.
        stage: StageId,
        /// The task's index.
        task: TaskIndex,
    },
    /// Hold every attempt of a task of a stage before it starts (holding its slot) while a file
    /// exists, so that a test can act while it runs: `hold=STAGE:PATH`.
    Hold {
        /// The stage.
        stage: StageId,
        /// The file whose removal lets the stage's tasks start.
        gate: PathBuf,
    },
}

impl FromStr for Fault {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let usage =
            || format!("unknown fault {text:?} (known: corrupt-map-output=STAGE:TASK, hold=STAGE:PATH)");
        let (kind, at) = text.split_once('=').ok_or_else(usage)?;
        let (stage, rest) = at.split_once(':').ok_or_else(usage)?;
        let number =
            |n: &str| n.parse::<u32>().map_err(|_| format!("{n:?} in fault {text:?} is not a number"));
        match kind {
            "corrupt-map-output" => {
                Ok(Fault::CorruptMapOutput { stage: StageId(number(stage)?), task: TaskIndex(number(rest)?) })
            }
            "hold" => Ok(Fault::Hold { stage: StageId(number(stage)?), gate: PathBuf::from(rest) }),
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

    /// Waits, on the task's thread, while a gate of a `hold` of `stage` exists and the task is
    /// not `stopped`.
    pub fn hold(&self, stage: StageId, stopped: &AtomicBool) {
        let held =
            |fault: &Fault| matches!(fault, Fault::Hold { stage: s, gate } if *s == stage && gate.exists());
        if !self.0.iter().any(held) {
            return;
        }
        tracing::warn!(%stage, "fault injected: task held");
        while self.0.iter().any(held) && !stopped.load(Ordering::Relaxed) {
            std::thread::sleep(HOLD_POLL);
        }
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
        let hold: Fault = "hold=2:/tmp/a:b".parse().unwrap();
        assert_eq!(hold, Fault::Hold { stage: StageId(2), gate: PathBuf::from("/tmp/a:b") });
        assert!("explode=1:2".parse::<Fault>().unwrap_err().contains("known: corrupt-map-output"));
        assert!("corrupt-map-output=x:2".parse::<Fault>().unwrap_err().contains("not a number"));
    }

    #[test]
    fn a_held_task_waits_until_its_gate_is_removed_or_it_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let gate = dir.path().join("gate");
        let faults = Faults(vec![Fault::Hold { stage: StageId(1), gate: gate.clone() }]);
        let stopped = AtomicBool::new(false);
        faults.hold(StageId(1), &stopped);
        std::fs::write(&gate, "").unwrap();
        faults.hold(StageId(0), &stopped);
        std::thread::scope(|scope| {
            let held = scope.spawn(|| faults.hold(StageId(1), &stopped));
            std::thread::sleep(HOLD_POLL * 3);
            assert!(!held.is_finished(), "held while the gate exists");
            std::fs::remove_file(&gate).unwrap();
            held.join().unwrap();
        });
        std::fs::write(&gate, "").unwrap();
        stopped.store(true, Ordering::Relaxed);
        faults.hold(StageId(1), &stopped);
    }
}
