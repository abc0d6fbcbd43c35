//! age files: recipients, encrypting (ASCII armor), reading a file's
//! header, and batou-run's record of the recipients a file was encrypted
//! to (a stanza of its own in the age header, which every age
//! implementation skips).

use std::cell::RefCell;
use std::collections::HashSet;
use std::io::{Read, Write};

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use age_core::format::{FileKey, Stanza};
use base64ct::{Base64, Base64Unpadded, Encoding};
use sha2::{Digest, Sha256};

/// The tag of batou-run's record stanza: `-> batou-run-recipients SALT DIGEST`.
pub const RECORD_TAG: &str = "batou-run-recipients";

/// A public key a secrets file is encrypted to, as listed in secrets.toml.
#[derive(Clone)]
pub struct Recipient {
    /// As written (an ssh key with its comment).
    pub text: String,
    /// The key alone, the form recipients are compared in: `age1…`, or
    /// `ssh-ed25519 BASE64` / `ssh-rsa BASE64` without the comment.
    pub key: String,
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    X25519(age::x25519::Recipient),
    Ssh(age::ssh::Recipient),
}

impl std::fmt::Debug for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Recipient({})", self.text)
    }
}

impl Recipient {
    /// Parses an age X25519 public key (`age1…`) or an OpenSSH public key
    /// line (`ssh-ed25519 AAAA… comment`, `ssh-rsa …`); the error says why
    /// not, without repeating the text (it might be a private key).
    pub fn parse(text: &str) -> Result<Recipient, String> {
        let text = text.trim();
        if text.starts_with("AGE-SECRET-KEY-") || text.contains("PRIVATE KEY") {
            return Err("this is a private key, not a public one: list the public key (`age-keygen -y FILE`, \
                        or the `.pub` file beside an ssh key), and keep the private key out of the deployment"
                .to_string());
        }
        if text.starts_with("age1") {
            return match text.parse::<age::x25519::Recipient>() {
                Ok(r) => Ok(Recipient { text: text.to_string(), key: r.to_string(), kind: Kind::X25519(r) }),
                Err(_) => Err("not a valid age public key (age1… in bech32, as `age-keygen` prints it)".to_string()),
            };
        }
        if text.starts_with("ssh-") || text.starts_with("ecdsa-") || text.starts_with("sk-") {
            use age::ssh::ParseRecipientKeyError as E;
            let supported = text.starts_with("ssh-ed25519 ") || text.starts_with("ssh-rsa ");
            return match text.parse::<age::ssh::Recipient>() {
                Ok(r) => Ok(Recipient { text: text.to_string(), key: r.to_string(), kind: Kind::Ssh(r) }),
                Err(E::Unsupported(kind)) if !supported => {
                    Err(format!("age cannot encrypt to {kind} keys: use an ssh-ed25519 or ssh-rsa key, or an age key"))
                }
                Err(E::RsaModulusTooLarge) => Err("this ssh-rsa key is larger than age supports".to_string()),
                Err(E::RsaModulusTooSmall) => {
                    Err("this ssh-rsa key is shorter than 2048 bits, too weak for age".to_string())
                }
                Err(_) => {
                    Err("not a valid OpenSSH public key (`ssh-ed25519 AAAA… comment`, as in a `.pub` file)".to_string())
                }
            };
        }
        if text.split_whitespace().next().is_some_and(|w| w.starts_with("ecdsa") || w.starts_with("sk-")) {
            return Err(
                "age cannot encrypt to this ssh key type: use ssh-ed25519 or ssh-rsa, or an age key".to_string()
            );
        }
        Err("not a recipient: an age public key (age1…) or an OpenSSH public key (ssh-ed25519 … or ssh-rsa …)"
            .to_string())
    }

    /// What kind of key this is, for messages: `age`, `ssh-ed25519`, `ssh-rsa`.
    #[allow(dead_code)]
    pub fn kind(&self) -> &str {
        match &self.kind {
            Kind::X25519(_) => "age",
            Kind::Ssh(_) => self.key.split(' ').next().unwrap_or("ssh"),
        }
    }

    fn as_age(&self) -> &dyn age::Recipient {
        match &self.kind {
            Kind::X25519(r) => r,
            Kind::Ssh(r) => r,
        }
    }
}

/// The key tag age puts in an ssh stanza: the first 4 bytes of the
/// SHA-256 of the key's wire form, base64 without padding.
pub fn ssh_tag(key: &str) -> Option<String> {
    let blob = Base64::decode_vec(key.split_whitespace().nth(1)?).ok()?;
    Some(Base64Unpadded::encode_string(&Sha256::digest(&blob)[..4]))
}

/// A text shown in place of a long key: its start and end.
pub fn short(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 48 {
        return key.to_string();
    }
    let head: String = chars[..28].iter().collect();
    let tail: String = chars[chars.len() - 12..].iter().collect();
    format!("{head}…{tail}")
}

/// The digest of a recipient set with a file's salt (the set's keys,
/// sorted and unique, so order and comments do not count).
fn digest(salt: &[u8], keys: &[String]) -> String {
    let mut keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    keys.sort();
    keys.dedup();
    let mut h = Sha256::new();
    h.update(b"batou-run recipients v1\0");
    h.update(salt);
    for key in keys {
        h.update(key.as_bytes());
        h.update(b"\n");
    }
    Base64Unpadded::encode_string(&h.finalize()[..16])
}

/// The record stanza: a salted digest of the recipient set, so a reader
/// of the repository learns nothing it could not guess whole, and
/// `reencrypt` knows which files were encrypted to another set.
struct Record<'a> {
    salt: [u8; 16],
    keys: Vec<String>,
    /// A real recipient, whose labels the record shares (age refuses to
    /// mix recipients of different labels).
    first: &'a dyn age::Recipient,
}

impl age::Recipient for Record<'_> {
    fn wrap_file_key(&self, file_key: &FileKey) -> Result<(Vec<Stanza>, HashSet<String>), age::EncryptError> {
        let (_, labels) = self.first.wrap_file_key(file_key)?;
        let stanza = Stanza {
            tag: RECORD_TAG.to_string(),
            args: vec![Base64Unpadded::encode_string(&self.salt), digest(&self.salt, &self.keys)],
            body: Vec::new(),
        };
        Ok((vec![stanza], labels))
    }
}

/// `plaintext` encrypted to `recipients`, ASCII-armored, with the record
/// of the recipient set.
pub fn encrypt(plaintext: &[u8], recipients: &[Recipient]) -> Result<Vec<u8>, String> {
    let Some(first) = recipients.first() else {
        return Err("no recipients: nobody could read it".to_string());
    };
    let mut salt = [0u8; 16];
    getrandom(&mut salt).map_err(|e| format!("no random bytes for the salt: {e}"))?;
    let record = Record { salt, keys: recipients.iter().map(|r| r.key.clone()).collect(), first: first.as_age() };
    let all = recipients.iter().map(Recipient::as_age).chain(std::iter::once(&record as &dyn age::Recipient));
    let encryptor = age::Encryptor::with_recipients(all).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let io = |e: std::io::Error| e.to_string();
    let armor = ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor).map_err(io)?;
    let mut writer = encryptor.wrap_output(armor).map_err(io)?;
    writer.write_all(plaintext).map_err(io)?;
    writer.finish().and_then(|armor| armor.finish()).map_err(io)?;
    Ok(out)
}

/// Random bytes from the kernel.
fn getrandom(buf: &mut [u8]) -> std::io::Result<()> {
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

/// One stanza of an age header, without its body.
#[derive(Debug, Clone)]
pub struct StanzaInfo {
    pub tag: String,
    pub args: Vec<String>,
}

/// An identity that unwraps nothing and notes the stanzas it was shown:
/// how to read an age header through the age crate's own parser.
#[derive(Default)]
struct Probe(RefCell<Vec<StanzaInfo>>);

impl age::Identity for Probe {
    fn unwrap_stanza(&self, _: &Stanza) -> Option<Result<FileKey, age::DecryptError>> {
        None
    }

    fn unwrap_stanzas(&self, stanzas: &[Stanza]) -> Option<Result<FileKey, age::DecryptError>> {
        *self.0.borrow_mut() =
            stanzas.iter().map(|s| StanzaInfo { tag: s.tag.clone(), args: s.args.clone() }).collect();
        None
    }
}

/// The stanzas of an age file's header (armored or binary).
pub fn header(ciphertext: &[u8]) -> Result<Vec<StanzaInfo>, age::DecryptError> {
    let decryptor = age::Decryptor::new(ArmoredReader::new(ciphertext))?;
    let probe = Probe::default();
    let _ = decryptor.decrypt(std::iter::once(&probe as &dyn age::Identity));
    Ok(probe.0.into_inner())
}

/// Whether the file's record says it was encrypted to exactly `keys`:
/// `None` when it has no record (it was written by another program).
pub fn encrypted_to(stanzas: &[StanzaInfo], keys: &[String]) -> Option<bool> {
    let record = stanzas.iter().find(|s| s.tag == RECORD_TAG && s.args.len() == 2)?;
    let salt = Base64Unpadded::decode_vec(&record.args[0]).ok()?;
    Some(digest(&salt, keys) == record.args[1])
}

/// The recipients of a header in words: "1 age (X25519) key and 1
/// ssh-ed25519 key (tag AbCdEf)", the record stanza left out.
pub fn describe(stanzas: &[StanzaInfo]) -> String {
    let mut x25519 = 0;
    let mut parts = Vec::new();
    for s in stanzas {
        match s.tag.as_str() {
            "X25519" => x25519 += 1,
            // age's own random stanzas, which keep parsers honest.
            tag if tag == RECORD_TAG || tag.ends_with("-grease") => {}
            tag @ ("ssh-ed25519" | "ssh-rsa") => {
                parts.push(format!("1 {tag} key (tag {})", s.args.first().map(String::as_str).unwrap_or("?")))
            }
            "scrypt" => parts.push("a passphrase (scrypt), which batou-run does not use".to_string()),
            other => parts.push(format!("1 `{other}` stanza")),
        }
    }
    if x25519 > 0 {
        let anonymous = "anonymous: age does not say which";
        parts.insert(0, format!("{x25519} age (X25519) key{} ({anonymous})", if x25519 == 1 { "" } else { "s" }));
    }
    if parts.is_empty() { "no recipients".to_string() } else { parts.join(", ") }
}

/// Decrypts with `identities` (armored or binary input).
pub fn decrypt(ciphertext: &[u8], identities: &[&dyn age::Identity]) -> Result<Vec<u8>, age::DecryptError> {
    let decryptor = age::Decryptor::new(ArmoredReader::new(ciphertext))?;
    let mut reader = decryptor.decrypt(identities.iter().copied())?;
    let mut out = Vec::new();
    reader.read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use age::secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn a_file_round_trips_and_records_its_recipients() {
        let a = age::x25519::Identity::generate();
        let b = age::x25519::Identity::generate();
        let ra = Recipient::parse(&a.to_public().to_string()).unwrap();
        let rb = Recipient::parse(&b.to_public().to_string()).unwrap();
        let sealed = encrypt(b"hello", &[ra.clone(), rb.clone()]).unwrap();
        assert!(sealed.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----"));
        assert_eq!(decrypt(&sealed, &[&b]).unwrap(), b"hello");
        let stanzas = header(&sealed).unwrap();
        assert_eq!(describe(&stanzas), "2 age (X25519) keys (anonymous: age does not say which)");
        assert_eq!(encrypted_to(&stanzas, &[rb.key.clone(), ra.key.clone()]), Some(true));
        assert_eq!(encrypted_to(&stanzas, &[ra.key.clone()]), Some(false));
        // Another program's file has no record.
        let plain = age::encrypt(&a.to_public(), b"x").unwrap();
        assert_eq!(encrypted_to(&header(&plain).unwrap(), &[ra.key]), None);
    }

    #[test]
    fn recipients_are_checked_without_echoing_private_keys() {
        let secret = age::x25519::Identity::generate().to_string();
        let why = Recipient::parse(secret.expose_secret()).unwrap_err();
        assert!(why.contains("private key"), "{why}");
        assert!(!why.contains(&secret.expose_secret()[15..]), "{why}");
        assert!(Recipient::parse("age1nope").unwrap_err().contains("not a valid age public key"));
        assert!(Recipient::parse("ssh-ed25519 AAAAnope x").unwrap_err().contains("OpenSSH public key"));
        assert!(Recipient::parse("hello").unwrap_err().contains("not a recipient"));
        assert!(Recipient::parse("ecdsa-sha2-nistp256 AAAA x").is_err());
    }
}
