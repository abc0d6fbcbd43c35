//! What the agent reports while it deploys, as the output shows it and as
//! it will travel back over SSH.

use serde::Serialize;
use similar::TextDiff;

use crate::host::state::{FileDiff, Level};

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// A component's verify asked for an update (which then ran, unless
    /// predicting).
    Changed { host: String, component: String, reason: String, predicted: bool },
    /// How a file changes, as a unified diff.
    Diff { host: String, component: String, diff: String },
    /// A message a component logged.
    Log { host: String, component: String, level: Level, message: String },
    /// A component failed; its host stops deploying.
    Failed { host: String, component: String, message: String },
}

/// Diffs longer than this many lines are cut.
const DIFF_LINES: usize = 200;

/// A unified diff of a file change; binary content is summarised.
pub fn render_diff(d: &FileDiff) -> String {
    let (Ok(old), Ok(new)) = (std::str::from_utf8(&d.old), std::str::from_utf8(&d.new)) else {
        return format!("Binary file {} changed ({} -> {} bytes)\n", d.path, d.old.len(), d.new.len());
    };
    let diff = TextDiff::from_lines(old, new);
    let text = diff.unified_diff().context_radius(3).header(&d.path, &d.path).to_string();
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= DIFF_LINES {
        return text;
    }
    let mut cut = lines[..DIFF_LINES].join("\n");
    cut.push_str(&format!("\n... ({} more lines)\n", lines.len() - DIFF_LINES));
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_diff_of_a_changed_line() {
        let d = FileDiff { path: "a.txt".into(), old: b"one\ntwo\n".to_vec(), new: b"one\n2\n".to_vec() };
        let text = render_diff(&d);
        assert!(text.starts_with("--- a.txt\n+++ a.txt\n"), "{text}");
        assert!(text.contains("-two\n+2\n"), "{text}");
    }

    #[test]
    fn binary_files_are_summarised() {
        let d = FileDiff { path: "b".into(), old: vec![0xff, 0xfe], new: vec![0] };
        assert_eq!(render_diff(&d), "Binary file b changed (2 -> 1 bytes)\n");
    }
}
