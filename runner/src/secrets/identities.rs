//! The private keys that decrypt secrets: `BATOU_RUN_AGE_IDENTITIES`, else
//! `$XDG_CONFIG_HOME/batou-run/identities` (`~/.config/...`) and the user's
//! OpenSSH keys. Files are read when the first secret is decrypted, a
//! passphrase is asked at most once per key and run, and each secrets
//! file is decrypted once per run.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use age::secrecy::SecretString;
use age_core::format::{FileKey, Stanza};

use super::SecretsError;
use super::file::{self, ssh_tag};

/// The variable naming identity files (comma-separated).
pub const IDENTITIES_VAR: &str = "BATOU_RUN_AGE_IDENTITIES";
/// The variable holding the passphrase of passphrase-protected ssh keys.
pub const PASSPHRASE_VAR: &str = "BATOU_RUN_AGE_PASSPHRASE";

/// The user's OpenSSH keys, in OpenSSH's order; age decrypts with
/// ed25519 and rsa keys only, so the others are not read.
const SSH_KEYS: &[(&str, bool)] =
    &[("id_rsa", true), ("id_ecdsa", false), ("id_ecdsa_sk", false), ("id_ed25519", true), ("id_ed25519_sk", false)];

/// Where the identities come from, found by [`Identities::discover`],
/// read on first use.
pub struct Identities {
    candidates: Vec<Candidate>,
    loaded: OnceLock<Result<Vec<Loaded>, SecretsError>>,
    /// Plaintexts by file, for the rest of the run.
    cache: Mutex<HashMap<PathBuf, Arc<Vec<u8>>>>,
}

struct Candidate {
    path: PathBuf,
    /// Named by the user (an unreadable or unusable file is an error),
    /// rather than a default that may hold anything.
    explicit: bool,
}

/// One identity file, read.
struct Loaded {
    path: PathBuf,
    keys: Vec<Key>,
    /// Why a default file gives no key (an ssh key age cannot use).
    skipped: Option<String>,
}

enum Key {
    X25519(age::x25519::Identity),
    Ssh { identity: age::ssh::Identity, kind: String },
    SshLocked(Locked),
}

/// A passphrase-protected ssh key, opened when a file is encrypted to it.
struct Locked {
    path: PathBuf,
    key: age::ssh::EncryptedKey,
    kind: String,
    /// The tag of its public key, as age's stanzas carry it.
    tag: Option<String>,
    opened: OnceLock<Result<age::ssh::Identity, String>>,
}

impl Locked {
    fn open(&self) -> &Result<age::ssh::Identity, String> {
        self.opened.get_or_init(|| {
            let shown = self.path.display();
            let (passphrase, from_var) = match std::env::var(PASSPHRASE_VAR) {
                Ok(p) => (p, true),
                Err(_) => (ask_passphrase(&format!("Passphrase for {shown}: "))?, false),
            };
            self.key.decrypt(SecretString::from(passphrase)).map(age::ssh::Identity::from).map_err(|_| {
                if from_var {
                    format!("{PASSPHRASE_VAR} does not open the ssh key {shown}")
                } else {
                    format!("the passphrase typed does not open the ssh key {shown}")
                }
            })
        })
    }
}

impl age::Identity for Key {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, age::DecryptError>> {
        match self {
            Key::X25519(i) => i.unwrap_stanza(stanza),
            Key::Ssh { identity, .. } => identity.unwrap_stanza(stanza),
            Key::SshLocked(locked) => {
                // Only a stanza for this very key asks for its passphrase.
                if stanza.tag != locked.kind || locked.tag.is_none() || stanza.args.first() != locked.tag.as_ref() {
                    return None;
                }
                match locked.open() {
                    Ok(identity) => identity.unwrap_stanza(stanza),
                    Err(_) => Some(Err(age::DecryptError::KeyDecryptionFailed)),
                }
            }
        }
    }
}

impl Identities {
    /// The identity files to try: those `BATOU_RUN_AGE_IDENTITIES` names
    /// (each must exist), else the identities file in batou-run's config
    /// folder and the user's ssh keys that exist.
    pub fn discover() -> Result<Identities, SecretsError> {
        let mut candidates = Vec::new();
        if let Some(list) = std::env::var_os(IDENTITIES_VAR).filter(|v| !v.is_empty()) {
            for part in list.to_string_lossy().split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let path = crate::home::expand(Path::new(part))
                    .map_err(|e| SecretsError::Identity { path: part.to_string(), why: e.to_string() })?;
                if !path.is_file() {
                    return Err(SecretsError::Identity {
                        path: path.display().to_string(),
                        why: format!("{IDENTITIES_VAR} names it, but it is not a file"),
                    });
                }
                candidates.push(Candidate { path, explicit: true });
            }
            return Ok(Identities::from_candidates(candidates));
        }
        if let Some(config) = config_dir() {
            let path = config.join("batou-run").join("identities");
            if path.is_file() {
                candidates.push(Candidate { path, explicit: true });
            }
        }
        if let Ok(home) = crate::home::home() {
            for (name, usable) in SSH_KEYS {
                let path = home.join(".ssh").join(name);
                if *usable && path.is_file() {
                    candidates.push(Candidate { path, explicit: false });
                }
            }
        }
        Ok(Identities::from_candidates(candidates))
    }

    fn from_candidates(candidates: Vec<Candidate>) -> Identities {
        Identities { candidates, loaded: OnceLock::new(), cache: Mutex::new(HashMap::new()) }
    }

    fn loaded(&self) -> Result<&[Loaded], SecretsError> {
        self.loaded.get_or_init(|| self.candidates.iter().map(load).collect()).as_deref().map_err(Clone::clone)
    }

    /// The plaintext of the age file at `path` (shown as `shown`),
    /// decrypted once per run.
    pub fn decrypt(&self, path: &Path, shown: &str) -> Result<Arc<Vec<u8>>, SecretsError> {
        if let Some(plain) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(path) {
            return Ok(plain.clone());
        }
        let ciphertext = std::fs::read(path)
            .map_err(|e| SecretsError::Io { path: shown.to_string(), why: format!("cannot read it: {e}") })?;
        let plain = Arc::new(self.decrypt_bytes(&ciphertext, shown)?);
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(path.to_path_buf(), plain.clone());
        Ok(plain)
    }

    /// Notes a file's new plaintext (after this run wrote it).
    pub fn remember(&self, path: &Path, plain: Vec<u8>) {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(path.to_path_buf(), Arc::new(plain));
    }

    /// Decrypts an age file's bytes (not cached).
    pub fn decrypt_bytes(&self, ciphertext: &[u8], shown: &str) -> Result<Vec<u8>, SecretsError> {
        let stanzas = file::header(ciphertext)
            .map_err(|e| SecretsError::NotAgeFile { file: shown.to_string(), why: e.to_string() })?;
        let loaded = self.loaded()?;
        let keys: Vec<&dyn age::Identity> =
            loaded.iter().flat_map(|l| l.keys.iter().map(|k| k as &dyn age::Identity)).collect();
        match file::decrypt(ciphertext, &keys) {
            Ok(plain) => Ok(plain),
            Err(age::DecryptError::NoMatchingKeys | age::DecryptError::KeyDecryptionFailed) => {
                Err(self.cannot_decrypt(shown, &stanzas, loaded))
            }
            Err(e) => Err(SecretsError::NotAgeFile { file: shown.to_string(), why: e.to_string() }),
        }
    }

    fn cannot_decrypt(&self, shown: &str, stanzas: &[file::StanzaInfo], loaded: &[Loaded]) -> SecretsError {
        let mut tried = Vec::new();
        let mut notes = Vec::new();
        for l in loaded {
            let path = l.path.display();
            if let Some(why) = &l.skipped {
                tried.push(format!("{path} (skipped: {why})"));
                continue;
            }
            let kinds: Vec<String> = l
                .keys
                .iter()
                .map(|k| match k {
                    Key::X25519(i) => format!("age key {}", i.to_public()),
                    Key::Ssh { kind, .. } => kind.clone(),
                    Key::SshLocked(locked) => {
                        if let Some(Err(why)) = locked.opened.get() {
                            notes.push(why.clone());
                        }
                        format!("{} with a passphrase", locked.kind)
                    }
                })
                .collect();
            tried.push(format!("{path} ({})", if kinds.is_empty() { "no keys".to_string() } else { kinds.join(", ") }));
        }
        SecretsError::CannotDecrypt {
            file: shown.to_string(),
            recipients: file::describe(stanzas),
            tried: if tried.is_empty() { "none (no identity files found)".to_string() } else { tried.join("; ") },
            notes,
        }
    }
}

/// `$XDG_CONFIG_HOME` when absolute, else `~/.config`.
fn config_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from).filter(|d| d.is_absolute()) {
        return Some(dir);
    }
    crate::home::home().ok().map(|h| h.join(".config"))
}

/// Reads one identity file: an age identity file (`AGE-SECRET-KEY-1…`
/// lines, `#` comments), or an OpenSSH private key.
fn load(candidate: &Candidate) -> Result<Loaded, SecretsError> {
    let path = &candidate.path;
    let shown = path.display().to_string();
    let error = |why: String| SecretsError::Identity { path: shown.clone(), why };
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(|e| error(format!("cannot read it: {e}")))?;
    if text.contains("-----BEGIN") {
        let identity = age::ssh::Identity::from_buffer(text.as_bytes(), Some(shown.clone()))
            .map_err(|e| error(format!("not an OpenSSH private key age can read: {e}")));
        let identity = match identity {
            Ok(i) => i,
            Err(e) if !candidate.explicit => {
                return Ok(Loaded { path: path.clone(), keys: Vec::new(), skipped: Some(e.to_string()) });
            }
            Err(e) => return Err(e),
        };
        let key = match identity {
            age::ssh::Identity::Unencrypted(key) => {
                let identity = age::ssh::Identity::Unencrypted(key);
                let kind = age::ssh::Recipient::try_from(identity.clone())
                    .map(|r| r.to_string().split(' ').next().unwrap_or("ssh").to_string())
                    .unwrap_or_else(|_| "ssh".to_string());
                Key::Ssh { identity, kind }
            }
            age::ssh::Identity::Encrypted(key) => {
                let public = age::ssh::Recipient::try_from(age::ssh::Identity::Encrypted(key.clone()))
                    .map(|r| r.to_string())
                    .unwrap_or_default();
                let kind = public.split(' ').next().unwrap_or("ssh").to_string();
                Key::SshLocked(Locked { path: path.clone(), key, kind, tag: ssh_tag(&public), opened: OnceLock::new() })
            }
            age::ssh::Identity::Unsupported(why) => {
                let why = format!("age cannot use this ssh key: {why:?}");
                if candidate.explicit {
                    return Err(error(why));
                }
                return Ok(Loaded { path: path.clone(), keys: Vec::new(), skipped: Some(why) });
            }
        };
        return Ok(Loaded { path: path.clone(), keys: vec![key], skipped: None });
    }
    let mut keys = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // The line is never shown: it may be a key.
        match line.parse::<age::x25519::Identity>() {
            Ok(identity) => keys.push(Key::X25519(identity)),
            Err(_) => {
                let why = format!(
                    "line {} is not an age identity (AGE-SECRET-KEY-1…, as `age-keygen` writes it), \
                     and the file is no OpenSSH private key",
                    i + 1
                );
                return Err(error(why));
            }
        }
    }
    Ok(Loaded { path: path.clone(), keys, skipped: None })
}

/// Asks for a passphrase on the terminal (`/dev/tty`, echo off); never
/// without one.
fn ask_passphrase(prompt: &str) -> Result<String, String> {
    use std::os::fd::AsRawFd;
    let no_terminal = || {
        format!(
            "{} needs a passphrase and there is no terminal to ask it on: set {PASSPHRASE_VAR}",
            prompt.trim_start_matches("Passphrase for ").trim_end_matches(": ")
        )
    };
    let mut tty = std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty").map_err(|_| no_terminal())?;
    let fd = tty.as_raw_fd();
    // SAFETY: termios is plain data; tcgetattr fills it for an open fd.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        return Err(no_terminal());
    }
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    let _ = tty.write_all(prompt.as_bytes());
    let _ = tty.flush();
    // SAFETY: as above, with the termios read from this fd.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    let read = loop {
        match tty.read(&mut byte) {
            Ok(0) => break Ok(()),
            Ok(_) if byte[0] == b'\n' => break Ok(()),
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => break Err(e),
            Err(e) => break Err(e),
        }
    };
    // SAFETY: restores the settings read above.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    read.map_err(|e| format!("cannot read the passphrase from the terminal: {e}"))?;
    String::from_utf8(line).map_err(|_| "the passphrase is not UTF-8".to_string())
}
