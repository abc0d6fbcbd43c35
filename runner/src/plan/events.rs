//! What the agent reports while it deploys, as the output shows it and as
//! it travels back from an agent process (see `protocol`).

use serde::{Deserialize, Deserializer, Serialize};
use similar::TextDiff;

use crate::plan::grants::Grant;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// A component's verify asked for an update (which then ran, unless
    /// predicting).
    Changed { host: String, component: String, reason: String, predicted: bool },
    /// How a file changes, as a unified diff.
    Diff { host: String, component: String, diff: String },
    /// A message a component logged.
    Log {
        host: String,
        component: String,
        #[serde(deserialize_with = "level")]
        level: Level,
        message: String,
    },
    /// A component failed; its host stops deploying.
    Failed { host: String, component: String, message: String },
    /// A component asked for something its root was not granted (the
    /// call returned `access-denied`, which the component may have
    /// handled).
    Denied { host: String, component: String, asked: String, advice: String },
    /// After a root: the grants its components used, and those the
    /// environment declared that none used.
    Grants {
        host: String,
        root: String,
        used: Vec<(String, Grant)>,
        unused: Vec<Grant>,
        /// The modules the root's components run: where each came from
        /// and its sha256, so the grants are read beside whose code uses
        /// them.
        #[serde(default)]
        modules: Vec<crate::plan::ModuleUse>,
    },
}

/// Reads a [`Level`] as it is serialised (lowercase), for events that
/// travel from an agent process.
fn level<'de, D: Deserializer<'de>>(d: D) -> Result<Level, D::Error> {
    let name = String::deserialize(d)?;
    [Level::Debug, Level::Info, Level::Warn, Level::Error]
        .into_iter()
        .find(|l| serde_json::to_value(l).ok().and_then(|v| v.as_str().map(|s| s == name)).unwrap_or(false))
        .ok_or_else(|| serde::de::Error::custom(format!("unknown log level `{name}`")))
}

/// Diffs longer than this many lines are cut.
const DIFF_LINES: usize = 200;

/// A unified diff of a file change; binary content is summarised.
pub fn render_diff(d: &FileDiff) -> String {
    let (Ok(old), Ok(new)) = (std::str::from_utf8(&d.old), std::str::from_utf8(&d.new)) else {
        return format!("Binary file {} changed ({} -> {} bytes)\n", d.path, d.old.len(), d.new.len());
    };
    // `similar` ends a line at a lone `\r` too: such text takes its way.
    let text = if old.is_empty() && !new.is_empty() && !new.contains('\r') {
        added_file(&d.path, new)
    } else {
        TextDiff::from_lines(old, new).unified_diff().context_radius(3).header(&d.path, &d.path).to_string()
    };
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= DIFF_LINES {
        return text;
    }
    let mut cut = lines[..DIFF_LINES].join("\n");
    cut.push_str(&format!("\n... ({} more lines)\n", lines.len() - DIFF_LINES));
    cut
}

/// The unified diff of a file that had no bytes, as `similar` writes it,
/// without its line matching (every new file of a first deploy has one).
fn added_file(path: &str, new: &str) -> String {
    let lines: Vec<&str> = new.split_inclusive('\n').collect();
    let count = if lines.len() == 1 { String::new() } else { format!(",{}", lines.len()) };
    let mut text = String::with_capacity(new.len() + lines.len() + 2 * path.len() + 32);
    text.push_str(&format!("--- {path}\n+++ {path}\n@@ -0,0 +1{count} @@\n"));
    for line in lines {
        text.push('+');
        text.push_str(line);
        if !line.ends_with('\n') {
            text.push_str("\n\\ No newline at end of file\n");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_is_diffed_as_similar_diffs_it() {
        let mut texts: Vec<String> =
            ["a", "a\n", "a\nb", "a\nb\n", "\n", "\n\n", "x\r\ny\r\n", "x\ry", " \n\t\n"].map(String::from).to_vec();
        texts.push((0..250).map(|i| format!("line {i}\n")).collect());
        texts.push((0..250).map(|i| format!("line {i}\n")).collect::<String>() + "end");
        for new in texts {
            let similar =
                TextDiff::from_lines("", new.as_str()).unified_diff().context_radius(3).header("p", "p").to_string();
            if !new.contains('\r') {
                assert_eq!(added_file("p", &new), similar, "{new:?}");
            }
            if new.lines().count() < DIFF_LINES {
                let d = FileDiff { path: "p".into(), old: Vec::new(), new: new.clone().into_bytes() };
                assert_eq!(render_diff(&d), similar, "{new:?}");
            }
        }
    }

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

    #[test]
    fn events_round_trip_through_json() {
        let e = Event::Log { host: "h".into(), component: "c".into(), level: Level::Warn, message: "m".into() };
        let json = serde_json::to_string(&e).unwrap();
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
    }
}

/// A file change reported through `log.diff`.
#[derive(Debug, Clone)]
pub struct FileDiff {
    pub path: String,
    pub old: Vec<u8>,
    pub new: Vec<u8>,
}

/// Levels of `log.log`, as the runner keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}
