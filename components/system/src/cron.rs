//! `cron-job` and `crontab`: jobs provided from anywhere in a host's
//! deployment, installed together by the host's one `crontab` between two
//! marker lines, so the lines an operator (or another tool) wrote stay as
//! they are. Verify reads the crontab with `crontab -l` and computes the
//! crontab as it should be; update installs that with `crontab -`.

use batou_sdk::model::Require;
use batou_sdk::prelude::*;
use batou_sdk::stdlib;
use serde::{Deserialize, Serialize};

use crate::{attributes, plain_name};

/// The key under which jobs are provided.
const KEY: &str = "cron-job";
/// The lines around the managed jobs.
const BEGIN: &str = "# BEGIN batou-run jobs (managed by batou-run: edit the deployment, not these lines)";
const END: &str = "# END batou-run jobs";

/// The words cron takes for a timing of its own.
const NICKNAMES: &[&str] = &["@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"];

/// One job, as provided to the host's crontab.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct Job {
    /// The providing component's path, as a comment above the line.
    component: String,
    timing: String,
    command: String,
}

/// A job of the host's crontab.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct CronJob(stdlib::CronJob);

attributes!(CronJob => stdlib::CronJob);

impl Component for CronJob {
    fn kind() -> Kind {
        stdlib::CronJob::spec()
    }

    fn configure(&mut self) -> Result<()> {
        check_timing(&self.timing)?;
        if self.command.trim().is_empty() {
            return Err(bad_attribute("command", "is empty: give the command line cron runs"));
        }
        if self.command.contains(['\n', '\r']) {
            return Err(bad_attribute("command", "is one line of the crontab: it cannot hold a line break"));
        }
        model::provide(
            KEY,
            &Job { component: model::path(), timing: self.timing.split_whitespace().collect::<Vec<_>>().join(" "), command: self.command.clone() },
        )
    }
}

/// Refuses a timing cron would not take (or would read differently).
fn check_timing(timing: &str) -> Result<()> {
    let fields: Vec<&str> = timing.split_whitespace().collect();
    match fields.as_slice() {
        [nickname] if nickname.starts_with('@') => {
            if NICKNAMES.contains(nickname) {
                Ok(())
            } else {
                Err(bad_attribute("timing", format!("`{nickname}` is not one of {}", NICKNAMES.join(", "))))
            }
        }
        fields if fields.len() == 5 => {
            let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '*' | '/' | ',' | '-');
            match fields.iter().find(|f| !f.chars().all(allowed)) {
                Some(field) => Err(bad_attribute(
                    "timing",
                    format!("field `{field}` is not a cron field (numbers, names, `*`, `/`, `,`, `-`)"),
                )),
                None => Ok(()),
            }
        }
        _ => Err(bad_attribute(
            "timing",
            format!(
                "`{timing}` has {} fields; cron wants five (minute hour day-of-month month day-of-week, such as \
                 `*/5 * * * *`) or one of {}",
                fields.len(),
                NICKNAMES.join(", ")
            ),
        )),
    }
}

/// The crontab of the host (and user).
#[derive(Deserialize)]
pub struct Crontab {
    #[serde(flatten)]
    attributes: stdlib::Crontab,
    /// The host's jobs, as configure found them (require is for
    /// configure only), in a stable order.
    #[serde(skip)]
    jobs: Vec<Job>,
}

impl std::ops::Deref for Crontab {
    type Target = stdlib::Crontab;

    fn deref(&self) -> &stdlib::Crontab {
        &self.attributes
    }
}

impl Component for Crontab {
    fn kind() -> Kind {
        stdlib::Crontab::spec()
    }

    fn configure(&mut self) -> Result<()> {
        if let Some(user) = &self.user {
            plain_name("user", user, "user")?;
        }
        // Not strict: a host without jobs gets no block (and loses the
        // jobs a previous deploy installed).
        let mut jobs: Vec<Job> = Require::new(KEY).host_only(true).strict(false).values()?;
        // The same jobs in any order of configure are the same crontab.
        jobs.sort();
        self.jobs = jobs;
        Ok(())
    }

    fn verify(&mut self) -> Result<()> {
        let (old, new) = self.contents()?;
        if old == new {
            return Ok(());
        }
        log::diff(&self.shown_as(), old.as_bytes(), new.as_bytes());
        Err(update_needed("its jobs differ"))
    }

    fn update(&mut self) -> Result<()> {
        let (_, new) = self.contents()?;
        self.crontab().arg("-").stdin(new.into_bytes()).check()?;
        Ok(())
    }
}

impl Crontab {
    /// `crontab`, with `-u USER` for another user's.
    fn crontab(&self) -> Command {
        let cmd = Command::new("crontab");
        match &self.user {
            Some(user) => cmd.args(["-u", user.as_str()]),
            None => cmd,
        }
    }

    /// How the crontab is named in a diff.
    fn shown_as(&self) -> String {
        match &self.user {
            Some(user) => format!("crontab of {user}"),
            None => "crontab".to_owned(),
        }
    }

    /// The crontab as it is and as it should be.
    fn contents(&self) -> Result<(String, String)> {
        let out = self.crontab().arg("-l").run()?;
        let old = if out.success() {
            out.stdout_text()
        } else if out.stderr_text().contains("no crontab for") {
            String::new()
        } else {
            return Err(out.failure(&self.crontab().arg("-l")));
        };
        let new = with_jobs(&old, &self.jobs)?;
        Ok((old, new))
    }
}

/// `crontab` with its managed block holding `jobs`: in the block's place
/// if there is one (a second block, left by hand, is dropped), else at the
/// end. No jobs and no block: unchanged.
fn with_jobs(crontab: &str, jobs: &[Job]) -> Result<String> {
    let mut block = String::new();
    if !jobs.is_empty() {
        block.push_str(BEGIN);
        block.push('\n');
        for job in jobs {
            block.push_str(&format!("# {}\n{} {}\n", job.component.replace('\n', " "), job.timing, job.command));
        }
        block.push_str(END);
        block.push('\n');
    }
    let mut out = String::with_capacity(crontab.len() + block.len());
    let mut inside = false;
    let mut placed = false;
    for line in crontab.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if inside {
            inside = bare != END;
            continue;
        }
        if bare == BEGIN {
            inside = true;
            if !placed {
                out.push_str(&block);
                placed = true;
            }
            continue;
        }
        out.push_str(line);
    }
    if inside {
        return Err(Error::Failed(format!(
            "the crontab has `{BEGIN}` without `{END}` after it: someone edited it by hand; put the end line back \
             (or remove the start line) with `crontab -e`"
        )));
    }
    if !placed && !block.is_empty() {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&block);
    }
    Ok(out)
}
