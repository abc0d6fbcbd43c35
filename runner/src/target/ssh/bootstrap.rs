//! Starting the agent on a host with one exec: a POSIX sh script checks
//! the machine, runs `batou-run-<sha256>` from the remote cache if it is
//! there, and otherwise asks for the binary (a marker line). The controller
//! answers with a line holding the size it sends, then that many bytes: the
//! binary gzipped (compressed once, kept in the local cache) if the host
//! has `gzip`, else as it is. The script reads exactly that many bytes
//! (`head -c`), unpacks them into a temporary file, checks its size and,
//! where `sha256sum` exists, its hash, and renames it into place.
//!
//! The cache folder must be the login's and closed to others' writes (a
//! folder of someone else's is refused), and a cached binary runs only if
//! it is the login's, closed to others' writes, of the right size, and
//! answers `--version`; otherwise it is uploaded again. Its full sha256 is
//! checked when it arrives, not on every deploy: hashing a 170 MB debug
//! build costs over a second of CPU (0.2 s for a stripped release build),
//! more than a whole deploy with nothing to change, while those checks
//! cost milliseconds and catch a truncated, swapped or crashing binary.
//! The script talks to the controller in lines starting with [`MARKER`]
//! before the agent takes the channel over.

use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::bridge::{Reader, Writer};

const MARKER: &str = "batou-run-bootstrap";

/// The agent binary shipped to hosts.
pub struct AgentBinary {
    path: PathBuf,
    /// Where the gzipped binary is kept (`<sha256>.gz`).
    cache: PathBuf,
    sha256: String,
    size: u64,
    /// As `uname -m` says it; empty when unknown (not checked).
    arch: String,
}

impl AgentBinary {
    /// `$BATOU_RUN_AGENT_BINARY`, else this very binary. Its hash is kept
    /// in `cache` by (inode, size, mtime), so a deploy does not hash
    /// 100 MB every time.
    pub fn find(cache: &Path) -> Result<Self, String> {
        let (path, arch) = match std::env::var_os("BATOU_RUN_AGENT_BINARY") {
            Some(p) => {
                let path = PathBuf::from(p);
                let arch = elf_arch(&path).map_err(|e| format!("BATOU_RUN_AGENT_BINARY={}: {e}", path.display()))?;
                (path, arch)
            }
            // /proc/self/exe still names this binary after a rebuild
            // replaced the file (see target/process.rs).
            None => (PathBuf::from("/proc/self/exe"), std::env::consts::ARCH.to_string()),
        };
        let meta =
            std::fs::metadata(&path).map_err(|e| format!("cannot read the agent binary {}: {e}", path.display()))?;
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
                let sha = hash(&path).map_err(|e| format!("cannot read the agent binary {}: {e}", path.display()))?;
                if std::fs::create_dir_all(memo.parent().expect("has a parent")).is_ok() {
                    let _ = std::fs::write(&memo, &sha);
                }
                sha
            }
        };
        Ok(AgentBinary { path, cache: cache.join("agent-binary"), sha256, size: meta.size(), arch })
    }

    /// The exec command: the script, in single quotes for the login shell;
    /// with a `service_user`, run through `sudo -n -u` (so the binary is
    /// uploaded into that user's cache, and `$HOME` is that user's), after
    /// a check that sudo lets the login do it without a password.
    pub fn command(&self, service_user: Option<&str>) -> Result<String, String> {
        let script = format!(
            r#"set -e
u="$(umask)"
umask 077
c="$HOME/.cache/batou-run"
b="$c/batou-run-{sha}"
m="$(uname -m)"
if [ -n "{arch}" ] && [ "$m" != "{arch}" ]; then echo "{MARKER} arch $m"; exit 3; fi
own() {{ [ -n "$(find "$1" -prune -user "$(id -u)" ! -perm -020 ! -perm -002 2>/dev/null)" ]; }}
mkdir -p "$c"
own "$c" || chmod go-w "$c" 2>/dev/null || true
if ! own "$c"; then echo "{MARKER} unsafe $c"; exit 7; fi
if [ -e "$b" ] && {{ ! own "$b" || [ "$(wc -c < "$b")" -ne {size} ] || ! "$b" --version >/dev/null 2>&1; }}; then
  rm -f "$b"
fi
if [ ! -x "$b" ]; then
  t="$b.$$.tmp"
  if command -v gzip >/dev/null 2>&1; then
    echo "{MARKER} upload gzip"
    read -r n
    head -c "$n" | gzip -dc > "$t" || true
  else
    echo "{MARKER} upload raw"
    read -r n
    head -c "$n" > "$t"
  fi
  n="$(wc -c < "$t")"
  if [ "$n" -ne {size} ]; then rm -f "$t"; echo "{MARKER} short $n"; exit 4; fi
  if command -v sha256sum >/dev/null 2>&1; then
    h="$(sha256sum "$t")"
    h="${{h%% *}}"
    if [ "$h" != "{sha}" ]; then rm -f "$t"; echo "{MARKER} corrupt $h"; exit 5; fi
  fi
  chmod 700 "$t"
  mv -f "$t" "$b"
fi
echo "{MARKER} ready"
umask "$u"
exec "$b" agent --cache "$c"
"#,
            sha = self.sha256,
            arch = self.arch,
            size = self.size,
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

    /// Follows the script until the agent runs; uploads the binary if the
    /// host asks for it. Returns the bytes uploaded.
    pub fn bootstrap(&self, reader: &mut Reader, writer: &mut Writer, login: &str) -> Result<u64, String> {
        let mut uploaded = 0;
        // What startup files print on stdout (a banner, an `echo` in
        // .bashrc); shown when things fail.
        let mut noise: Vec<String> = Vec::new();
        let printed = |noise: &[String]| {
            let shown: Vec<&str> = noise.iter().map(|l| l.trim()).filter(|l| !l.is_empty()).collect();
            if shown.is_empty() { String::new() } else { format!("; it printed: {}", shown.join(" / ")) }
        };
        let timeout = bootstrap_timeout();
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
                ("upload", how) => uploaded = self.upload(writer, how == "gzip")?,
                ("arch", remote) => {
                    return Err(format!(
                        "the host is a {remote} machine, and the agent binary ({}) is built for {}: set \
                         BATOU_RUN_AGENT_BINARY to a batou-run built for {remote} (see the README)",
                        self.path.display(),
                        self.arch
                    ));
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
                    return Err(format!(
                        "the agent binary arrived corrupt (sha256 {got}, not {}); deploy again",
                        self.sha256
                    ));
                }
                ("short", got) => {
                    return Err(format!(
                        "the upload of the agent binary arrived incomplete ({got} of {} bytes)",
                        self.size
                    ));
                }
                _ => noise.push(line.clone()),
            }
        }
    }

    /// Sends the binary, gzipped if `gzip`, after a line with the number
    /// of bytes that follow. Returns that number.
    fn upload(&self, writer: &mut Writer, gzip: bool) -> Result<u64, String> {
        let read_error = |e: std::io::Error| format!("cannot read the agent binary {}: {e}", self.path.display());
        let mut file = if gzip { self.compressed()? } else { std::fs::File::open(&self.path).map_err(read_error)? };
        let size = file.metadata().map_err(read_error)?.size();
        if !gzip && size != self.size {
            return Err(format!("the agent binary {} changed while deploying", self.path.display()));
        }
        let started = std::time::Instant::now();
        writer
            .write_all(format!("{size}\n").as_bytes())
            .and_then(|()| std::io::copy(&mut file, writer))
            .and_then(|_| writer.flush())
            .map_err(|e| format!("uploading the agent binary ({size} bytes): {e}"))?;
        tracing::info!(bytes = size, gzip, ms = started.elapsed().as_millis() as u64, "agent binary sent");
        Ok(size)
    }

    /// The gzipped binary, made once per binary in the local cache, open
    /// (another deploy may replace or remove the file meanwhile).
    fn compressed(&self) -> Result<std::fs::File, String> {
        let gz = self.cache.join(format!("{}.gz", self.sha256));
        if let Ok(file) = std::fs::File::open(&gz) {
            return Ok(file);
        }
        let started = std::time::Instant::now();
        let fail = |e: std::io::Error| format!("cannot compress the agent binary into {}: {e}", gz.display());
        std::fs::create_dir_all(&self.cache).map_err(fail)?;
        // Hosts deployed at once may each compress: one temporary file each.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let temp = gz.with_extension(format!("{}.{n}.tmp", std::process::id()));
        let result = (|| {
            let mut input = std::fs::File::open(&self.path)?;
            let output = std::io::BufWriter::new(std::fs::File::create(&temp)?);
            let mut encoder = flate2::write::GzEncoder::new(output, flate2::Compression::new(LEVEL));
            let copied = std::io::copy(&mut input, &mut encoder)?;
            if copied != self.size {
                return Err(std::io::Error::other(format!("{} changed while deploying", self.path.display())));
            }
            encoder.finish()?.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            let file = std::fs::File::open(&temp)?;
            std::fs::rename(&temp, &gz)?;
            Ok(file)
        })();
        let file = result.map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            fail(e)
        })?;
        // Older binaries' archives go: a build a day would fill the disk.
        for entry in std::fs::read_dir(&self.cache).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".gz") && entry.path() != gz {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        tracing::info!(ms = started.elapsed().as_millis() as u64, "agent binary compressed");
        Ok(file)
    }
}

/// How long the bootstrap may wait for each line of the host's login and
/// script (the upload itself is not bounded by it): 60 s, or
/// `BATOU_RUN_BOOTSTRAP_TIMEOUT` seconds.
fn bootstrap_timeout() -> std::time::Duration {
    let secs = std::env::var("BATOU_RUN_BOOTSTRAP_TIMEOUT").ok().and_then(|s| s.parse::<u64>().ok()).filter(|&s| s > 0);
    std::time::Duration::from_secs(secs.unwrap_or(60))
}

/// gzip's level for the agent binary: fast, and most of the gain.
const LEVEL: u32 = 1;

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

/// The machine an ELF executable is for, as `uname -m` names it.
fn elf_arch(path: &Path) -> Result<String, String> {
    let mut header = [0u8; 20];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut header)).map_err(|e| e.to_string())?;
    if &header[..4] != b"\x7fELF" {
        return Err("not an ELF executable".into());
    }
    let machine = if header[5] == 2 {
        u16::from_be_bytes([header[18], header[19]])
    } else {
        u16::from_le_bytes([header[18], header[19]])
    };
    Ok(match machine {
        0x3e => "x86_64",
        0xb7 => "aarch64",
        0xf3 => "riscv64",
        0x15 => "ppc64le",
        _ => "",
    }
    .to_string())
}
