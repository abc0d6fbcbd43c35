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
        for d in &errors.0 {
            eprintln!("ERROR: {d}");
        }
        if errors.0.len() > 1 {
            eprintln!("{} problems found.", errors.0.len());
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
