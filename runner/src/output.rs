//! What the operator sees: batou-shaped lines for humans, or one JSON
//! event per line with `--json`. Logs for developers go through tracing,
//! to stderr, and never mix with this.

use std::io::Write;

use serde_json::json;

use crate::agent::Event;
use crate::diagnostic::Diagnostics;
use crate::host::state::Level;

pub struct Output {
    pub json: bool,
    pub verbose: bool,
    /// List the grants each root used (predict mode, or verbose).
    pub grants: bool,
}

impl Output {
    pub fn event(&self, event: &Event) {
        if self.json {
            println_json(&serde_json::to_value(event).expect("events serialize"));
            return;
        }
        let mut out = std::io::stdout().lock();
        match event {
            Event::Changed { host, component, .. } => {
                let _ = writeln!(out, "{host}: {component}");
            }
            Event::Diff { diff, .. } => {
                for line in diff.lines() {
                    let _ = writeln!(out, "    {line}");
                }
            }
            Event::Log { host, component, level, message } => {
                if *level >= Level::Info || self.verbose {
                    let tag = match level {
                        Level::Debug => "debug",
                        Level::Info => "info",
                        Level::Warn => "warning",
                        Level::Error => "error",
                    };
                    let _ = writeln!(out, "{host}: {component}: {tag}: {message}");
                }
            }
            Event::Failed { host, component, message } => {
                drop(out);
                eprintln!("ERROR: {host}: {component}: {message}");
            }
            Event::Denied { host, component, asked, advice } => {
                drop(out);
                eprintln!("DENIED: {host}: {component}: {asked}; {advice}");
            }
            Event::Grants { host, root, used, unused } => {
                if !self.grants {
                    return;
                }
                // Not `host: component` lines: those are changes.
                if used.is_empty() && unused.is_empty() {
                    let _ = writeln!(out, "Grants of {host}:{root} (none used)");
                    return;
                }
                let _ = writeln!(out, "Grants of {host}:{root}");
                let width = used.iter().map(|(_, g)| g).chain(unused).map(|g| g.to_string().len()).max().unwrap_or(0);
                for (component, grant) in used {
                    let _ = writeln!(out, "    {:width$}  used by {component}", grant.to_string());
                }
                for grant in unused {
                    let _ =
                        writeln!(out, "    {:width$}  NOT USED: granted, but no component used it", grant.to_string());
                }
            }
        }
    }

    /// Several events printed together: no other thread's output comes
    /// between them.
    pub fn events(&self, events: &[Event]) {
        // stdout's lock is reentrant: `event` takes it again.
        let _out = std::io::stdout().lock();
        for event in events {
            self.event(event);
        }
    }

    /// A root that was not deployed, and why.
    pub fn skipped(&self, host: &str, root: &str, reason: &str) {
        if self.json {
            println_json(&json!({"event": "skipped", "host": host, "component": root, "reason": reason}));
        } else {
            eprintln!("SKIPPED: {host}: {root}: {reason}");
        }
    }

    pub fn diagnostics(&self, errors: &Diagnostics) {
        if self.json {
            for d in &errors.0 {
                let mut v = serde_json::to_value(d).expect("diagnostics serialize");
                v["event"] = json!("error");
                println_json(&v);
            }
            return;
        }
        for (heading, group) in errors.grouped() {
            if let Some(heading) = heading {
                eprintln!("{heading}");
            }
            for d in group {
                eprintln!("ERROR: {d}");
            }
        }
        if errors.0.len() > 1 {
            eprintln!("{} problems found.", errors.0.len());
        }
    }

    /// Problems that do not stop the deploy.
    pub fn warnings(&self, warnings: &Diagnostics) {
        for d in &warnings.0 {
            if self.json {
                let mut v = serde_json::to_value(d).expect("diagnostics serialize");
                v["event"] = json!("warning");
                println_json(&v);
            } else {
                eprintln!("WARNING: {d}");
            }
        }
    }

    pub fn summary(&self, text: &str, fields: serde_json::Value) {
        if self.json {
            let mut v = fields;
            v["event"] = json!("summary");
            v["message"] = json!(text);
            println_json(&v);
        } else {
            println!("{text}");
        }
    }
}

fn println_json(v: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
}
