//! What the operator sees: batou-shaped lines for humans, or one JSON
//! event per line with `--json`. Logs for developers go through tracing,
//! to stderr, and never mix with this.

use std::io::Write;

use serde_json::json;

use crate::diagnostic::Diagnostics;
use crate::plan::events::Event;
use crate::plan::events::Level;

pub struct Output {
    pub json: bool,
    pub verbose: bool,
    /// List the grants each root used (predict mode, or verbose).
    pub grants: bool,
}

impl Output {
    /// Output with no verbose messages and no grants listed.
    pub fn plain(json: bool) -> Output {
        Output { json, verbose: false, grants: false }
    }

    pub fn event(&self, event: &Event) {
        crate::progress::suspend(|| self.event_now(event));
    }

    fn event_now(&self, event: &Event) {
        if self.json {
            let mut v = serde_json::to_value(event).expect("events serialize");
            if let Event::Diff { diff, .. } = event {
                // Which secrets the diff had: it is shown masked, not hidden.
                let keys = crate::redact::text_keys(diff).1;
                if !keys.is_empty() {
                    v["masked"] = json!(keys);
                }
            }
            println_json(&v);
            return;
        }
        // An event's lines go out in one write, not one per line.
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        match event {
            Event::Changed { host, component, .. } => {
                let _ = writeln!(out, "{}: {}", shown(host), shown(component));
            }
            Event::Diff { diff, .. } => {
                let (masked, keys) = crate::redact::text_keys(diff);
                let color = colors().stdout;
                for line in masked.lines() {
                    let _ = writeln!(out, "    {}", diff_line(&escaped(line), color));
                }
                if !keys.is_empty() {
                    let _ = writeln!(out, "    (masked: {})", keys.join(", "));
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
                    let _ = writeln!(out, "{}: {}: {tag}: {}", shown(host), shown(component), shown(message));
                }
            }
            Event::Failed { host, component, message } => {
                drop(out);
                eprintln!("{} {}: {}: {}", tag(Tag::Error), shown(host), shown(component), shown(message));
            }
            Event::Denied { host, component, asked, advice } => {
                drop(out);
                eprintln!(
                    "{} {}: {}: {}; {}",
                    tag(Tag::Denied),
                    shown(host),
                    shown(component),
                    shown(asked),
                    shown(advice)
                );
            }
            Event::Grants { host, root, used, unused, modules } => {
                if !self.grants {
                    return;
                }
                // Not `host: component` lines: those are changes.
                if used.is_empty() && unused.is_empty() {
                    let _ = writeln!(out, "Grants of {}:{} (none used)", shown(host), shown(root));
                } else {
                    let _ = writeln!(out, "Grants of {}:{}", shown(host), shown(root));
                }
                for module in modules {
                    let _ = writeln!(out, "    module {}  sha256:{}", shown(&module.origin), shown(&module.sha256));
                }
                let width = used.iter().map(|(_, g)| g).chain(unused).map(|g| g.to_string().len()).max().unwrap_or(0);
                for (component, grant) in used {
                    let _ = writeln!(out, "    {:width$}  used by {}", shown(&grant.to_string()), shown(component));
                }
                for grant in unused {
                    let _ = writeln!(
                        out,
                        "    {:width$}  NOT USED: granted, but no component used it",
                        shown(&grant.to_string())
                    );
                }
            }
        }
    }

    /// Several events printed together: no other thread's output comes
    /// between them.
    pub fn events(&self, events: &[Event]) {
        crate::progress::suspend(|| {
            // stdout's lock is reentrant: `event_now` takes it again.
            let _out = std::io::stdout().lock();
            for event in events {
                self.event_now(event);
            }
        });
    }

    /// A root that was not deployed, and why.
    pub fn skipped(&self, host: &str, root: &str, reason: &str) {
        if self.json {
            println_json(&json!({"event": "skipped", "host": host, "component": root, "reason": reason}));
        } else {
            crate::progress::suspend(|| {
                eprintln!("{} {}: {}: {}", tag(Tag::Skipped), shown(host), shown(root), shown(reason))
            });
        }
    }

    pub fn diagnostics(&self, errors: &Diagnostics) {
        self.errors(errors, &json!({}));
    }

    /// Problems that end the command: `ERROR:` lines on stderr, or one
    /// `error` event each, carrying also the fields of `extra` (an object).
    pub fn errors(&self, errors: &Diagnostics, extra: &serde_json::Value) {
        if self.json {
            for d in &errors.0 {
                let mut v = serde_json::to_value(d).expect("diagnostics serialize");
                for (key, value) in extra.as_object().into_iter().flatten() {
                    v[key] = value.clone();
                }
                v["event"] = json!("error");
                println_json(&v);
            }
            return;
        }
        crate::progress::suspend(|| {
            for (heading, group) in errors.grouped() {
                if let Some(heading) = heading {
                    eprintln!("{heading}");
                }
                for d in group {
                    eprintln!("{} {}", tag(Tag::Error), shown(&d.to_string()));
                }
            }
            if errors.0.len() > 1 {
                eprintln!("{} problems found.", errors.0.len());
            }
        });
    }

    /// Problems that do not stop the deploy.
    pub fn warnings(&self, warnings: &Diagnostics) {
        for d in &warnings.0 {
            if self.json {
                let mut v = serde_json::to_value(d).expect("diagnostics serialize");
                v["event"] = json!("warning");
                println_json(&v);
            } else {
                crate::progress::suspend(|| eprintln!("{} {}", tag(Tag::Warning), shown(&d.to_string())));
            }
        }
    }

    /// One JSON event line on stdout, whole (no other thread's output
    /// comes into it).
    pub fn json_line(&self, v: &serde_json::Value) {
        println_json(v);
    }

    pub fn summary(&self, text: &str, fields: serde_json::Value) {
        if self.json {
            let mut v = fields;
            v["event"] = json!("summary");
            v["message"] = json!(text);
            println_json(&v);
        } else {
            crate::progress::suspend(|| println!("{}", shown(text)));
        }
    }
}

/// Whether each stream gets colors: only a terminal, only without
/// `NO_COLOR` (set and not empty: no colors, as no-color.org asks) and
/// not for `TERM=dumb`. Piped output and `--json` never carry escapes.
#[derive(Clone, Copy)]
pub struct Colors {
    pub stdout: bool,
    pub stderr: bool,
}

pub fn colors() -> Colors {
    static COLORS: std::sync::OnceLock<Colors> = std::sync::OnceLock::new();
    *COLORS.get_or_init(|| {
        use std::io::IsTerminal;
        let allowed = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::env::var_os("TERM").is_none_or(|t| t != "dumb");
        Colors {
            stdout: allowed && std::io::stdout().is_terminal(),
            stderr: allowed && std::io::stderr().is_terminal(),
        }
    })
}

/// The word that starts a line on stderr.
#[derive(Clone, Copy)]
pub enum Tag {
    Error,
    Denied,
    Skipped,
    Warning,
}

/// `ERROR:`, `DENIED:`, `SKIPPED:` (red) or `WARNING:` (yellow), bold, on
/// a terminal.
pub fn tag(tag: Tag) -> String {
    use anstyle::{AnsiColor, Style};
    let (word, color) = match tag {
        Tag::Error => ("ERROR:", AnsiColor::Red),
        Tag::Denied => ("DENIED:", AnsiColor::Red),
        Tag::Skipped => ("SKIPPED:", AnsiColor::Red),
        Tag::Warning => ("WARNING:", AnsiColor::Yellow),
    };
    painted(word, Style::new().bold().fg_color(Some(color.into())), colors().stderr)
}

/// A line of a unified diff: added green, removed red, hunk headers cyan.
fn diff_line(line: &str, color: bool) -> std::borrow::Cow<'_, str> {
    use anstyle::{AnsiColor, Style};
    let style = if line.starts_with("+++") || line.starts_with("---") {
        Style::new().bold()
    } else if line.starts_with('+') {
        Style::new().fg_color(Some(AnsiColor::Green.into()))
    } else if line.starts_with('-') {
        Style::new().fg_color(Some(AnsiColor::Red.into()))
    } else if line.starts_with("@@") {
        Style::new().fg_color(Some(AnsiColor::Cyan.into()))
    } else {
        return std::borrow::Cow::Borrowed(line);
    };
    if color { std::borrow::Cow::Owned(painted(line, style, true)) } else { std::borrow::Cow::Borrowed(line) }
}

fn painted(text: &str, style: anstyle::Style, on: bool) -> String {
    if on { format!("{style}{text}{style:#}") } else { text.to_string() }
}

/// Text from components, hosts and target files as a terminal may show it:
/// every secret masked (`redact`), control characters (an escape sequence
/// could move the cursor, rewrite earlier lines or set the clipboard)
/// written as `\x1b`, `\r` and the like. Line breaks and tabs stay.
/// `--json` carries the text unescaped (as JSON escapes it), but masked.
pub fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    match crate::redact::text(text) {
        std::borrow::Cow::Borrowed(text) => escaped(text),
        std::borrow::Cow::Owned(masked) => std::borrow::Cow::Owned(escaped(&masked).into_owned()),
    }
}

/// `text` with its control characters escaped (see [`shown`]).
fn escaped(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let n = c as u32;
                if n < 0x100 {
                    out.push_str(&format!("\\x{n:02x}"));
                } else {
                    out.push_str(&format!("\\u{{{n:04x}}}"));
                }
            }
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::shown;

    #[test]
    fn diff_lines_are_colored_only_when_asked() {
        assert_eq!(super::diff_line("+new", false), "+new");
        assert_eq!(super::diff_line("+new", true), "\u{1b}[32m+new\u{1b}[0m");
        assert_eq!(super::diff_line("-old", true), "\u{1b}[31m-old\u{1b}[0m");
        assert_eq!(super::diff_line(" same", true), " same");
    }

    #[test]
    fn control_characters_are_escaped_line_breaks_and_tabs_kept() {
        assert_eq!(shown("plain\tline\n"), "plain\tline\n");
        assert_eq!(shown("\u{1b}]52;c;aGk=\u{7}x\rover"), "\\x1b]52;c;aGk=\\x07x\\rover");
        assert_eq!(shown("\u{9b}2J"), "\\x9b2J");
    }
}

/// Every JSON line goes out here, with every secret in it masked.
fn println_json(v: &serde_json::Value) {
    let v = crate::redact::value(v);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
}
