//! Finding and running the component builders.

use crate::ProjectError;
use std::path::PathBuf;
use std::process::Command;

/// A builder program: its name, the environment variable that may name its path, and how to
/// install it.
pub(crate) struct Tool {
    /// The program's name on `PATH`.
    pub name: &'static str,
    /// The environment variable naming its path, checked first.
    pub env: &'static str,
    /// How to install it, for the error when it is missing.
    pub install: &'static str,
}

impl Tool {
    /// The program's path: `$env` if set, else the first `name` on `PATH`.
    pub fn find(&self) -> Result<PathBuf, ProjectError> {
        let missing =
            || ProjectError::MissingBuilder { tool: self.name, env: self.env, install: self.install };
        if let Some(path) = std::env::var_os(self.env).filter(|path| !path.is_empty()) {
            let path = PathBuf::from(path);
            return if path.is_file() { Ok(path) } else { Err(missing()) };
        }
        let path = std::env::var_os("PATH").ok_or_else(missing)?;
        std::env::split_paths(&path)
            .map(|dir| dir.join(self.name))
            .find(|path| path.is_file())
            .ok_or_else(missing)
    }
}

/// Runs `command`, which builds a component, and returns what it printed on stdout; fails with
/// the end of its output if it fails.
pub(crate) fn run(mut command: Command) -> Result<String, ProjectError> {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command.output().map_err(|source| ProjectError::BuildFailed {
        tool: program.clone(),
        status: "could not start".to_owned(),
        output: source.to_string(),
    })?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        return Ok(stdout);
    }
    // What a builder says about a failure is on stderr (cargo's stdout holds JSON messages).
    let stderr = String::from_utf8_lossy(&output.stderr);
    let printed = if stderr.trim().is_empty() { stdout } else { stderr.into_owned() };
    Err(ProjectError::BuildFailed {
        tool: program,
        status: output.status.to_string(),
        output: tail(&printed),
    })
}

/// The last 64 lines of `text` (a builder's output can be long; its end says what failed).
fn tail(text: &str) -> String {
    const LINES: usize = 64;
    let lines: Vec<&str> = text.lines().collect();
    let skipped = lines.len().saturating_sub(LINES);
    let kept = lines[skipped..].join("\n");
    if skipped == 0 { kept } else { format!("[{skipped} lines before]\n{kept}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_says_how_to_install_it() {
        let tool = Tool {
            name: "flicker-no-such-builder",
            env: "FLICKER_TEST_NO_SUCH_BUILDER",
            install: "pip install it",
        };
        let error = tool.find().unwrap_err();
        assert!(matches!(error, ProjectError::MissingBuilder { tool: "flicker-no-such-builder", .. }));
        assert!(error.to_string().contains("pip install it"), "{error}");
    }

    #[test]
    fn a_failing_builder_shows_the_end_of_its_output() {
        let mut command = Command::new("sh");
        command.args(["-c", "for i in $(seq 1 100); do echo line $i >&2; done; exit 3"]);
        let error = run(command).unwrap_err().to_string();
        assert!(error.contains("line 100") && error.contains("[36 lines before]"), "{error}");
        assert!(!error.contains("line 36\n"), "{error}");
    }
}
