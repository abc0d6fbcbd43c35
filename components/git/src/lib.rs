//! The standard `git` component of batou-run, embedded in the runner: a
//! checkout of a repository at exactly one branch, tag or revision,
//! through the `git` program (a `commands` grant).
//!
//! Verify compares the checkout's remote, its own changes and its commit
//! with what is asked: for a branch or a tag it asks the remote which
//! commit that is now (`git ls-remote`, which changes nothing), so `-P`
//! predicts a new commit on a branch. A checkout with changes of its own
//! is refused, not overwritten, unless `clobber = true`. Every `git` runs
//! in a folder the path sandbox checks (the checkout, or for a clone its
//! parent), so a target outside the grants is refused.

use batou_sdk::prelude::*;
use batou_sdk::stdlib;
use serde::Deserialize;

/// A git checkout.
#[derive(Deserialize)]
#[serde(transparent)]
struct Git(stdlib::Git);

impl std::ops::Deref for Git {
    type Target = stdlib::Git;

    fn deref(&self) -> &stdlib::Git {
        &self.0
    }
}

/// What the checkout should be at.
enum Wanted<'a> {
    Branch(&'a str),
    Tag(&'a str),
    Revision(&'a str),
}

/// What verify found.
enum Found {
    /// No checkout yet (no folder, or an empty one).
    Missing,
    /// A checkout, and the reasons it needs an update (none: it is right).
    Checkout { reasons: Vec<String> },
}

impl Component for Git {
    fn kind() -> Kind {
        stdlib::Git::spec()
    }

    fn configure(&mut self) -> Result<()> {
        if self.repository.is_empty() || self.repository.starts_with('-') {
            return Err(bad_attribute("repository", "give the repository's URL or path, as `git clone` takes it"));
        }
        if self.target.trim_end_matches('/').is_empty() {
            return Err(bad_attribute("target", "give the checkout's folder"));
        }
        self.wanted()?;
        Ok(())
    }

    fn verify(&mut self) -> Result<()> {
        match self.found()? {
            Found::Missing => Err(update_needed(format!("not cloned: clone {}", self.repository))),
            Found::Checkout { reasons } if reasons.is_empty() => Ok(()),
            Found::Checkout { reasons } => Err(update_needed(reasons.join("; "))),
        }
    }

    fn update(&mut self) -> Result<()> {
        let target = self.target.trim_end_matches('/').to_owned();
        if let Found::Missing = self.found()? {
            let (parent, name) = match target.rsplit_once('/') {
                Some((parent, name)) => (if parent.is_empty() { "/" } else { parent }, name),
                None => (".", target.as_str()),
            };
            // Also what makes the sandbox check the write grant.
            files::mkdir(parent, true)?;
            Command::new("git").args(["clone", "-q", "--no-checkout", "--", &self.repository, name]).cwd(parent).check()?;
        } else {
            if self.remote()?.as_deref() != Some(self.repository.as_str()) {
                self.git(&["remote", "set-url", "origin", &self.repository]).check()?;
            }
            if self.clobber {
                self.git(&["reset", "-q", "--hard"]).check()?;
                self.git(&["clean", "-q", "-f", "-d"]).check()?;
            }
            self.git(&["fetch", "-q", "--force", "--tags", "origin"]).check()?;
        }
        let target_ref = match self.wanted()? {
            Wanted::Branch(branch) => {
                let remote = format!("refs/remotes/origin/{branch}");
                return self.checkout(&["-B", branch, &remote]);
            }
            Wanted::Tag(tag) => format!("refs/tags/{tag}^{{commit}}"),
            Wanted::Revision(revision) => format!("{revision}^{{commit}}"),
        };
        let out = self.git(&["rev-parse", "-q", "--verify", &target_ref]).run()?;
        if !out.success() {
            return Err(Error::Failed(format!(
                "{} has no {}: check the attribute, or that the commit is on a branch or tag the repository offers",
                self.repository,
                self.describe_wanted()?
            )));
        }
        self.checkout(&["--detach", out.stdout_text().trim()])
    }
}

impl Git {
    fn wanted(&self) -> Result<Wanted<'_>> {
        let given: Vec<Wanted<'_>> = [
            self.branch.as_deref().map(Wanted::Branch),
            self.tag.as_deref().map(Wanted::Tag),
            self.revision.as_deref().map(Wanted::Revision),
        ]
        .into_iter()
        .flatten()
        .collect();
        if given.len() != 1 {
            return Err(Error::Invalid(format!(
                "give exactly one of branch, tag and revision (here {}): the checkout is at one of them",
                given.len()
            )));
        }
        let wanted = given.into_iter().next().expect("one");
        match wanted {
            Wanted::Revision(rev) if rev.len() < 4 || rev.len() > 64 || !rev.chars().all(|c| c.is_ascii_hexdigit()) => {
                Err(bad_attribute("revision", format!("`{rev}` is not a commit hash (4 to 40 hex digits)")))
            }
            Wanted::Branch(name) | Wanted::Tag(name) if name.is_empty() || name.starts_with('-') || name.contains("..") => {
                Err(Error::Invalid(format!("`{name}` is not a branch or tag name")))
            }
            wanted => Ok(wanted),
        }
    }

    fn describe_wanted(&self) -> Result<String> {
        Ok(match self.wanted()? {
            Wanted::Branch(b) => format!("branch {b}"),
            Wanted::Tag(t) => format!("tag {t}"),
            Wanted::Revision(r) => format!("commit {r}"),
        })
    }

    /// `git` in the checkout.
    fn git(&self, args: &[&str]) -> Command {
        Command::new("git").args(args.iter().copied()).cwd(self.target.trim_end_matches('/'))
    }

    fn checkout(&self, args: &[&str]) -> Result<()> {
        let mut all = vec!["checkout", "-q", "--force"];
        all.extend_from_slice(args);
        self.git(&all).check()?;
        Ok(())
    }

    /// The checkout's `origin`, if it has one.
    fn remote(&self) -> Result<Option<String>> {
        let out = self.git(&["remote", "get-url", "origin"]).run()?;
        Ok(out.success().then(|| out.stdout_text().trim().to_owned()))
    }

    /// What is at `target`, and what differs there.
    fn found(&self) -> Result<Found> {
        let target = self.target.trim_end_matches('/');
        match files::stat(target)? {
            None => return Ok(Found::Missing),
            Some(stat) if !stat.is_dir() => {
                return Err(Error::Failed(format!("{target} is not a folder: move it away, or point target elsewhere")));
            }
            Some(_) => {}
        }
        if files::stat(&format!("{target}/.git"))?.is_none() {
            if files::list(target)?.is_empty() {
                return Ok(Found::Missing);
            }
            return Err(Error::Failed(format!(
                "{target} holds files but is no git checkout: move them away, or point target elsewhere"
            )));
        }
        let mut reasons = Vec::new();
        match self.remote()? {
            Some(remote) if remote == self.repository => {}
            Some(remote) => reasons.push(format!("remote is {remote}, not {}", self.repository)),
            None => reasons.push(format!("has no remote origin; it becomes {}", self.repository)),
        }
        let status = self.git(&["status", "--porcelain", "--untracked-files=all"]).check()?.stdout_text();
        if !status.trim().is_empty() {
            let shown: Vec<&str> = status.lines().take(5).collect();
            let more = status.lines().count().saturating_sub(shown.len());
            let listed = format!("{}{}", shown.join(", "), if more > 0 { format!(" and {more} more") } else { String::new() });
            if !self.clobber {
                return Err(Error::Failed(format!(
                    "{target} has changes of its own ({listed}): commit or remove them, or set clobber = true to \
                     discard them"
                )));
            }
            reasons.push(format!("changes of its own are discarded ({listed})"));
        }
        let head = self.git(&["rev-parse", "-q", "--verify", "HEAD"]).run()?;
        let head = head.success().then(|| head.stdout_text().trim().to_owned());
        let wanted = self.wanted_commit()?;
        let at = |commit: &str| head.as_deref().is_some_and(|h| h.starts_with(&commit.to_ascii_lowercase()));
        let on_branch = match self.wanted()? {
            Wanted::Branch(branch) => {
                let current = self.git(&["symbolic-ref", "-q", "--short", "HEAD"]).run()?;
                current.success() && current.stdout_text().trim() == branch
            }
            _ => true,
        };
        if !at(&wanted) || !on_branch {
            let short = |c: &str| c.chars().take(12).collect::<String>();
            reasons.push(format!(
                "at {}, not {} ({})",
                head.as_deref().map(short).unwrap_or_else(|| "no commit".to_owned()),
                short(&wanted),
                self.describe_wanted()?
            ));
        }
        Ok(Found::Checkout { reasons })
    }

    /// The commit the checkout should be at: a revision as given, a
    /// branch's or tag's as the repository says now.
    fn wanted_commit(&self) -> Result<String> {
        let (refs, what) = match self.wanted()? {
            Wanted::Revision(rev) => return Ok(rev.to_owned()),
            Wanted::Branch(b) => (vec![format!("refs/heads/{b}")], format!("branch {b}")),
            // An annotated tag's commit is the `^{}` line.
            Wanted::Tag(t) => (vec![format!("refs/tags/{t}"), format!("refs/tags/{t}^{{}}")], format!("tag {t}")),
        };
        let mut cmd = self.git(&["ls-remote", "--", &self.repository]);
        for r in &refs {
            cmd = cmd.arg(r.as_str());
        }
        let out = cmd.check()?.stdout_text();
        let lines: Vec<(&str, &str)> = out.lines().filter_map(|l| l.split_once('\t')).collect();
        let peeled = lines.iter().find(|(_, r)| r.ends_with("^{}")).or(lines.first());
        match peeled {
            Some((commit, _)) => Ok((*commit).to_owned()),
            None => Err(Error::Failed(format!("{} has no {what}: check the name", self.repository))),
        }
    }
}

batou_sdk::export!(Git);
