//! What the operator is told when something is wrong: where (file:line,
//! host, component path), what, and what to do about it.

use std::fmt;

use serde::Serialize;

/// Where in the work before any host is touched a problem was found.
/// A report lists its problems grouped by stage, in this order.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Reading the environment file.
    Environment,
    /// The modules of batou.toml and their pins in batou.lock.
    Modules,
    /// Building and loading the deployment's own components.
    Build,
    /// Checking each root's kind and attributes.
    Kinds,
    /// Configuring the components and resolving what they provide and require.
    Configure,
}

impl Stage {
    fn heading(self) -> &'static str {
        match self {
            Stage::Environment => "In the environment:",
            Stage::Modules => "Modules of batou.toml:",
            Stage::Build => "Building components:",
            Stage::Kinds => "Kinds and attributes:",
            Stage::Configure => "Configure:",
        }
    }
}

/// One problem, located as precisely as the runner knows.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Diagnostic {
    /// The stage that found it, when it was found before deploying.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    /// `file:line` in the deployment, when the problem comes from a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The host the problem belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The component path, such as `hello > file('hello.txt')`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>) -> Self {
        Diagnostic { stage: None, location: None, host: None, component: None, message: message.into(), hint: None }
    }

    pub fn at(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }

    pub fn on_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    pub fn in_component(mut self, path: impl Into<String>) -> Self {
        self.component = Some(path.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut prefix = Vec::new();
        if let Some(location) = &self.location {
            prefix.push(location.as_str());
        }
        if let Some(host) = &self.host {
            prefix.push(host.as_str());
        }
        if let Some(component) = &self.component {
            prefix.push(component.as_str());
        }
        if prefix.is_empty() {
            write!(f, "{}", self.message)?;
        } else {
            write!(f, "{}: {}", prefix.join(": "), self.message)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Several problems, reported together rather than one at a time.
#[derive(Debug, Clone, Default, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    /// Marks every problem as found by `stage` (unless one already says).
    pub fn in_stage(mut self, stage: Stage) -> Self {
        for d in &mut self.0 {
            d.stage.get_or_insert(stage);
        }
        self
    }

    /// The problems grouped by stage (in stage order, each group in the
    /// order found), each group with its heading when there is more than
    /// one group.
    pub fn grouped(&self) -> Vec<(Option<&'static str>, Vec<&Diagnostic>)> {
        let mut sorted: Vec<&Diagnostic> = self.0.iter().collect();
        sorted.sort_by_key(|d| d.stage);
        let mut groups: Vec<(Option<Stage>, Vec<&Diagnostic>)> = Vec::new();
        for d in sorted {
            match groups.last_mut() {
                Some((stage, list)) if *stage == d.stage => list.push(d),
                _ => groups.push((d.stage, vec![d])),
            }
        }
        let headed = groups.len() > 1;
        groups.into_iter().map(|(stage, list)| (stage.filter(|_| headed).map(Stage::heading), list)).collect()
    }

    /// `Ok(value)` when nothing was reported, else `Err(self)`.
    pub fn into_result<T>(self, value: T) -> Result<T, Diagnostics> {
        if self.0.is_empty() { Ok(value) } else { Err(self) }
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// The closest of `choices` to `word`, if it is close enough to be a
/// likely typo ("did you mean ...?").
pub fn did_you_mean<'a>(word: &str, choices: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    choices
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// A hint listing the valid choices, with the likely intended one first.
pub fn choices_hint<'a>(word: &str, choices: impl IntoIterator<Item = &'a str> + Clone) -> String {
    let list: Vec<&str> = choices.clone().into_iter().collect();
    let valid = if list.is_empty() { "none".to_string() } else { list.join(", ") };
    match did_you_mean(word, choices) {
        Some(close) => format!("did you mean '{close}'? Valid choices: {valid}"),
        None => format!("valid choices: {valid}"),
    }
}

/// Edit distance where swapping two neighbouring letters counts as one
/// edit (optimal string alignment), since that is the commonest typo.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for j in 0..=b.len() {
        d[0][j] = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_words_only() {
        assert_eq!(did_you_mean("contnet", ["content", "path", "mode"]), Some("content"));
        assert_eq!(did_you_mean("paht", ["content", "path", "mode"]), Some("path"));
        assert_eq!(did_you_mean("xyz", ["content", "path", "mode"]), None);
    }

    #[test]
    fn display_joins_location_host_component() {
        let d = Diagnostic::new("boom").at("env.toml:3").on_host("h").in_component("a > b").hint("fix it");
        assert_eq!(d.to_string(), "env.toml:3: h: a > b: boom\n  hint: fix it");
    }
}
