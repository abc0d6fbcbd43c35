//! Starting the agent on a host with one exec: a POSIX sh script picks the
//! agent for the host's machine (`uname -m`) among those the controller
//! has found so far, or names the machine and waits for the controller to
//! name its agent (found or built then, see `target::agents`; a machine
//! without one is refused), runs `batou-run-<sha256>` from the remote cache
//! if it is there, and otherwise asks for the binary (a marker line). The controller
//! answers with a line holding the size it sends, then that many bytes: the
//! binary gzipped (compressed once, kept in the local cache, and held in
//! memory for every host of the deploy) if the host
//! has `gzip`, else as it is. The script reads exactly that many bytes
//! (`head -c`), unpacks them into a temporary file, checks its size and,
//! where `sha256sum` exists, its hash, and renames it into place.
//!
//! The cache folder must be the login's and closed to others' writes (a
//! folder of someone else's is refused), and a cached binary runs only if
//! it is the login's, closed to others' writes, of the right size, and
//! answers `--version`; otherwise it is uploaded again. Its full sha256 is
//! checked when it arrives, not on every deploy: hashing even the 25 MB
//! static agent costs 0.1-0.2 s of CPU,
//! more than a whole deploy with nothing to change, while those checks
//! cost milliseconds and catch a truncated, swapped or crashing binary.
//! The script talks to the controller in lines starting with [`MARKER`]
//! before the agent takes the channel over.

use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use sha2::{Digest, Sha256};

use super::bridge::{Reader, Writer};
use crate::target::agents::Agents;

const MARKER: &str = "batou-run-bootstrap";

/// An agent binary shipped to hosts of one machine.
pub struct AgentBinary {
    path: PathBuf,
    /// Where the gzipped binary is kept (`<machine>-<sha256>.gz`).
    cache: PathBuf,
    sha256: String,
    size: u64,
    /// As `uname -m` says it.
    machine: &'static str,
    /// The gzipped binary, read or made once for every host of a deploy.
    gzipped: OnceLock<Result<Arc<[u8]>, String>>,
}

impl AgentBinary {
    /// The agent at `path` for `machine` hosts. Its hash is kept in
    /// `cache` by (device, inode, size, mtime), so a deploy does not hash
    /// 25 MB every time.
    pub fn open(path: &Path, machine: &'static str, cache: &Path) -> Result<Self, String> {
        let meta =
            std::fs::metadata(path).map_err(|e| format!("cannot read the agent binary {}: {e}", path.display()))?;
        let key = format!(
            "{}-{}-{}-{}",
            meta.dev(),
            meta.ino(),
            meta.size(),
            meta.mtime_nsec() + meta.mtime() * 1_000_000_000
        );
        let memo = cache.join("agent-binary").join(key);
        let sha256 = match std::fs::read_to_string(&memo) {
            Ok(sha) if sha.len() == 64 => sha,
            _ => {
                let sha = hash(path).map_err(|e| format!("cannot read the agent binary {}: {e}", path.display()))?;
                if std::fs::create_dir_all(memo.parent().expect("has a parent")).is_ok() {
                    let _ = std::fs::write(&memo, &sha);
                }
                sha
            }
        };
        Ok(AgentBinary {
            path: path.to_path_buf(),
            cache: cache.join("agent-binary"),
            sha256,
            size: meta.size(),
            machine,
            gzipped: OnceLock::new(),
        })
    }

    /// Its size in bytes as it is, and gzipped as it is uploaded (made
    /// now if not yet).
    pub fn sizes(&self) -> Result<(u64, u64), String> {
        Ok((self.size, self.gzipped()?.len() as u64))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The exec command: the script, in single quotes for the login shell;
/// with a `service_user`, run through `sudo -n -u` (so the binary is
/// uploaded into that user's cache, and `$HOME` is that user's), after a
/// check that sudo lets the login do it without a password. The script
/// knows the agents in `known` by machine; a host of another machine says
/// which it is and waits for the controller to name the agent for it.
pub fn command(known: &[(&str, Arc<AgentBinary>)], service_user: Option<&str>) -> Result<String, String> {
    let mut cases = String::new();
    for (machine, agent) in known {
        cases.push_str(&format!("  {machine}) s={}; n={} ;;\n", agent.sha256, agent.size));
    }
    let script = format!(
        r#"set -e
u="$(umask)"
umask 077
c="$HOME/.cache/batou-run"
m="$(uname -m)"
case "$m" in
{cases}  *) echo "{MARKER} machine $m"; read -r s n ;;
esac
if [ "$s" = none ]; then exit 3; fi
b="$c/batou-run-$s"
own() {{ [ -n "$(find "$1" -prune -user "$(id -u)" ! -perm -020 ! -perm -002 2>/dev/null)" ]; }}
mkdir -p "$c"
own "$c" || chmod go-w "$c" 2>/dev/null || true
if ! own "$c"; then echo "{MARKER} unsafe $c"; exit 7; fi
if [ -e "$b" ] && {{ ! own "$b" || [ "$(wc -c < "$b")" -ne "$n" ] || ! "$b" --version >/dev/null 2>&1; }}; then
  rm -f "$b"
fi
if [ ! -x "$b" ]; then
  t="$b.$$.tmp"
  if command -v gzip >/dev/null 2>&1; then
    echo "{MARKER} upload gzip $s"
    read -r l
    head -c "$l" | gzip -dc > "$t" || true
  else
    echo "{MARKER} upload raw $s"
    read -r l
    head -c "$l" > "$t"
  fi
  l="$(wc -c < "$t")"
  if [ "$l" -ne "$n" ]; then rm -f "$t"; echo "{MARKER} short $l"; exit 4; fi
  if command -v sha256sum >/dev/null 2>&1; then
    h="$(sha256sum "$t")"
    h="${{h%% *}}"
    if [ "$h" != "$s" ]; then rm -f "$t"; echo "{MARKER} corrupt $h"; exit 5; fi
  fi
  chmod 700 "$t"
  mv -f "$t" "$b"
fi
echo "{MARKER} ready"
umask "$u"
exec "$b" agent --cache "$c"
"#
    );
    debug_assert!(!script.contains('\'') && !script.contains('\\'));
    let Some(user) = service_user else { return Ok(format!("exec /bin/sh -c '{script}'")) };
    if user.is_empty() || !user.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
        return Err(format!("service_user `{user}` is not a user name"));
    }
    Ok(format!(
        "e=\"$(sudo -n -u {user} -H true 2>&1)\" || {{ echo \"{MARKER} sudo {user} $e\"; exit 6; }}; \
         exec sudo -n -u {user} -H /bin/sh -c '{script}'"
    ))
}

/// Follows the script until the agent runs: names the agent for the
/// host's machine if the script asks, uploads it if the host lacks it.
/// Returns the bytes uploaded.
pub fn bootstrap(agents: &Agents, reader: &mut Reader, writer: &mut Writer, login: &str) -> Result<u64, String> {
    let mut uploaded = 0;
    // What startup files print on stdout (a banner, an `echo` in
    // .bashrc); shown when things fail.
    let mut noise: Vec<String> = Vec::new();
    let printed = |noise: &[String]| {
        let shown: Vec<&str> = noise.iter().map(|l| l.trim()).filter(|l| !l.is_empty()).collect();
        if shown.is_empty() { String::new() } else { format!("; it printed: {}", shown.join(" / ")) }
    };
    let timeout = bootstrap_timeout();
    let mut agent: Option<Arc<AgentBinary>> = None;
    loop {
        let line = match reader.line_before(std::time::Instant::now() + timeout) {
            super::bridge::Line::Line(line) => line,
            super::bridge::Line::End(rest) => {
                noise.push(rest);
                return Err(format!("the connection ended before the agent started{}", printed(&noise)));
            }
            super::bridge::Line::TimedOut(rest) => {
                noise.push(rest);
                return Err(format!(
                    "the host's login did not start the bootstrap script within {}s{} (a startup file that \
                     waits for input, or a very slow login?); BATOU_RUN_BOOTSTRAP_TIMEOUT sets the seconds",
                    timeout.as_secs(),
                    printed(&noise)
                ));
            }
        };
        // Output without a newline before the script's first line
        // (`printf` in a startup file) shares its line.
        let Some(at) = line.find(MARKER) else {
            noise.push(line);
            continue;
        };
        noise.push(line[..at].to_string());
        let word = line[at + MARKER.len()..].trim();
        match word.split_once(' ').unwrap_or((word, "")) {
            ("ready", _) => return Ok(uploaded),
            ("machine", machine) => {
                let answer = agents.for_machine(machine);
                let reply = match &answer {
                    Ok(found) => format!("{} {}\n", found.sha256, found.size),
                    Err(_) => "none 0\n".to_string(),
                };
                writer
                    .write_all(reply.as_bytes())
                    .and_then(|()| writer.flush())
                    .map_err(|e| format!("naming the agent to the host: {e}"))?;
                agent = Some(answer?);
            }
            ("upload", how) => {
                let (how, sha256) = how.split_once(' ').unwrap_or((how, ""));
                let binary =
                    match &agent {
                        Some(a) if a.sha256 == sha256 => a.clone(),
                        _ => agents.known().into_iter().map(|(_, a)| a).find(|a| a.sha256 == sha256).ok_or_else(
                            || format!("the host asked for an agent binary this deploy has not ({sha256})"),
                        )?,
                    };
                uploaded = binary.upload(writer, how == "gzip")?;
                agent = Some(binary);
            }
            ("sudo", said) => {
                let (user, said) = said.split_once(' ').unwrap_or((said, ""));
                return Err(format!(
                    "cannot run the agent as the service user {user}: `sudo -n -u {user}` says \"{said}\". Let \
                     {login} run commands as {user} without a password (a sudoers rule such as \
                     `{login} ALL=({user}) NOPASSWD: ALL`), or remove service_user"
                ));
            }
            ("unsafe", dir) => {
                return Err(format!(
                    "the agent's cache folder {dir} on the host is not private to {login} (another owner, \
                     writable by others, or a symlink), so no agent is run from it: make it {login}'s with \
                     mode 700, or remove it"
                ));
            }
            ("corrupt", got) => {
                let expected = agent.as_ref().map(|a| a.sha256.as_str()).unwrap_or("?");
                return Err(format!("the agent binary arrived corrupt (sha256 {got}, not {expected}); deploy again"));
            }
            ("short", got) => {
                let expected = agent.as_ref().map(|a| a.size).unwrap_or_default();
                return Err(format!("the upload of the agent binary arrived incomplete ({got} of {expected} bytes)"));
            }
            _ => noise.push(line.clone()),
        }
    }
}

impl AgentBinary {
    /// Sends the binary, gzipped if `gzip`, after a line with the number
    /// of bytes that follow. Returns that number.
    fn upload(&self, writer: &mut Writer, gzip: bool) -> Result<u64, String> {
        let started = std::time::Instant::now();
        let size = if gzip {
            let bytes = self.gzipped()?;
            let size = bytes.len() as u64;
            writer
                .write_all(format!("{size}\n").as_bytes())
                .and_then(|()| writer.write_all(&bytes))
                .and_then(|()| writer.flush())
                .map_err(|e| format!("uploading the agent binary ({size} bytes): {e}"))?;
            size
        } else {
            let read_error = |e: std::io::Error| format!("cannot read the agent binary {}: {e}", self.path.display());
            let mut file = std::fs::File::open(&self.path).map_err(read_error)?;
            let size = file.metadata().map_err(read_error)?.size();
            if size != self.size {
                return Err(format!("the agent binary {} changed while deploying", self.path.display()));
            }
            writer
                .write_all(format!("{size}\n").as_bytes())
                .and_then(|()| std::io::copy(&mut file, writer))
                .and_then(|_| writer.flush())
                .map_err(|e| format!("uploading the agent binary ({size} bytes): {e}"))?;
            size
        };
        tracing::info!(bytes = size, gzip, ms = started.elapsed().as_millis() as u64, "agent binary sent");
        Ok(size)
    }

    /// The gzipped binary: made once per binary into the local cache
    /// (`<sha256>.gz`), read from there once per deploy, and shared by
    /// every host of the deploy that needs it.
    fn gzipped(&self) -> Result<Arc<[u8]>, String> {
        self.gzipped.get_or_init(|| self.read_or_compress().map(Arc::from)).clone()
    }

    fn read_or_compress(&self) -> Result<Vec<u8>, String> {
        let gz = self.cache.join(format!("{}-{}.gz", self.machine, self.sha256));
        if let Ok(bytes) = std::fs::read(&gz) {
            tracing::info!(bytes = bytes.len(), "agent binary read gzipped from the cache");
            return Ok(bytes);
        }
        let started = std::time::Instant::now();
        let fail = |e: std::io::Error| format!("cannot compress the agent binary {}: {e}", self.path.display());
        let mut input = std::fs::File::open(&self.path).map_err(fail)?;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(LEVEL));
        let copied = std::io::copy(&mut input, &mut encoder).map_err(fail)?;
        if copied != self.size {
            return Err(format!("the agent binary {} changed while deploying", self.path.display()));
        }
        let bytes = encoder.finish().map_err(fail)?;
        // Kept for the next deploy; a cache that cannot be written only
        // costs the compression again.
        if std::fs::create_dir_all(&self.cache).is_ok() {
            // Older binaries' archives go (a build a day would fill the
            // disk), not those of other machines' agents.
            let older = |name: &str| name.starts_with(&format!("{}-", self.machine)) && name.ends_with(".gz");
            for entry in std::fs::read_dir(&self.cache).into_iter().flatten().flatten() {
                if older(&entry.file_name().to_string_lossy()) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
            if let Err(e) = crate::atomic_file::write(&gz, &bytes, 0o644) {
                tracing::warn!(error = %e, file = %gz.display(), "cannot keep the compressed agent binary");
            }
        }
        tracing::info!(ms = started.elapsed().as_millis() as u64, bytes = bytes.len(), "agent binary compressed");
        Ok(bytes)
    }
}

/// How long the bootstrap may wait for each line of the host's login and
/// script (the upload itself is not bounded by it): 60 s, or
/// `BATOU_RUN_BOOTSTRAP_TIMEOUT` seconds.
fn bootstrap_timeout() -> std::time::Duration {
    let secs = std::env::var("BATOU_RUN_BOOTSTRAP_TIMEOUT").ok().and_then(|s| s.parse::<u64>().ok()).filter(|&s| s > 0);
    std::time::Duration::from_secs(secs.unwrap_or(60))
}

/// gzip's level for the agent binary: it is compressed once per binary
/// (about 2 s), and 6 gives within 1% of 9's size in half its time.
const LEVEL: u32 = 6;

fn hash(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
