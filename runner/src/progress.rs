//! A live view on a terminal while work takes time (a leaf every layer may
//! use): a spinner line per task that takes a while (building a component,
//! compiling a module, starting the agent on a host, uploading it) and a
//! line per host while several deploy (connecting, deploying root N of M,
//! done, FAILED). It draws on stderr through indicatif, and only when
//! `deploy` turned it on: stderr is a terminal, no `--json`, `TERM` is not
//! `dumb`. Otherwise every call here does nothing, so piped output and
//! `--json` stay free of control codes. What the operator is shown
//! meanwhile (changes, diffs, errors) is written through [`suspend`], so
//! no line is drawn over.

use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

static VIEW: OnceLock<MultiProgress> = OnceLock::new();

/// Turns the view on for this process if stderr is a terminal (and `json`
/// is off, and `TERM` is not `dumb`).
pub fn start(json: bool) {
    use std::io::IsTerminal;
    let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
    if json || dumb || !std::io::stderr().is_terminal() {
        return;
    }
    let _ = VIEW.set(MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)));
}

/// Runs `f` (which writes lines) with the view hidden, so that it is
/// drawn again below them.
pub fn suspend<R>(f: impl FnOnce() -> R) -> R {
    match VIEW.get() {
        Some(view) => view.suspend(f),
        None => f(),
    }
}

/// Ends the view: what is drawn is cleared and nothing is drawn again, so
/// a task still running on another thread (the standard library loading
/// while a deploy stops at an error) leaves no line behind.
pub fn stop() {
    if let Some(view) = VIEW.get() {
        let _ = view.clear();
        view.set_draw_target(ProgressDrawTarget::hidden());
    }
}

/// A task that takes a while: a spinner with `message` until dropped.
pub struct Task(Option<ProgressBar>);

pub fn task(message: impl Into<String>) -> Task {
    let Some(view) = VIEW.get() else { return Task(None) };
    let bar = view.add(ProgressBar::new_spinner());
    bar.set_style(ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("a valid template"));
    bar.set_message(plain(message.into()));
    bar.enable_steady_tick(Duration::from_millis(100));
    Task(Some(bar))
}

impl Drop for Task {
    fn drop(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish_and_clear();
        }
    }
}

/// A host's line: what it is doing now, until it ends; then how it ended
/// is printed as a line of its own, which stays. The default one shows
/// nothing.
#[derive(Default)]
pub struct HostLine(Option<(ProgressBar, String)>);

pub fn host_line(host: &str) -> HostLine {
    let Some(view) = VIEW.get() else { return HostLine(None) };
    let bar = view.add(ProgressBar::new_spinner());
    bar.set_style(ProgressStyle::with_template("{spinner} {prefix}: {msg}").expect("a valid template"));
    let host = plain(host.to_string());
    bar.set_prefix(host.clone());
    bar.enable_steady_tick(Duration::from_millis(100));
    HostLine(Some((bar, host)))
}

impl HostLine {
    /// What the host does now.
    pub fn set(&self, message: impl Into<String>) {
        if let Some((bar, _)) = &self.0 {
            bar.set_message(plain(message.into()));
        }
    }

    /// How the host ended (once).
    pub fn finish(&self, message: impl Into<String>) {
        let Some((bar, host)) = self.0.as_ref().filter(|(b, _)| !b.is_finished()) else { return };
        bar.finish_and_clear();
        if let Some(view) = VIEW.get() {
            let _ = view.println(format!("{host}: {}", plain(message.into())));
        }
    }
}

/// `text` without control characters (a name from a file could hold an
/// escape sequence); the caller's text is otherwise shown as it is.
fn plain(text: String) -> String {
    if text.chars().any(char::is_control) {
        text.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
    } else {
        text
    }
}
