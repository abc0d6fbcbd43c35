//! An environment's secrets: `environments/<env>/secrets.toml.age` (or
//! `environments/<env>.secrets.toml.age` beside a flat `<env>.toml`), an
//! age-encrypted TOML file listing its own recipients and the attribute
//! and host data overrides; and secret files `secret-<name>.age` beside
//! it, encrypted to the same recipients. Decrypted with [`Identities`],
//! once per run. docs/secrets.md is the user's side.

pub mod edit;
pub mod file;
pub mod identities;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use toml::de::DeValue;

pub use self::file::Recipient;
pub use self::identities::Identities;
use crate::config::source::{Source, shown_path, to_json, type_name};
use crate::config::{Environment, is_plain_name, list_environments};
use crate::diagnostic::{Diagnostic, Diagnostics, Stage, choices_hint};
use crate::redact::Secret;

/// The mode of every file batou-run writes holding secrets, encrypted or not.
pub const PRIVATE_FILE: u32 = 0o600;
/// The prefix of a secret file's name: `secret-<name>.age`.
pub const SECRET_FILE_PREFIX: &str = "secret-";

/// What went wrong with a secrets file or an identity.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SecretsError {
    /// No identity at hand opens the file.
    #[error(
        "{file}: no identity at hand can decrypt it; it is encrypted to {recipients}; identities tried: {tried}{}",
        notes.iter().map(|n| format!("; {n}")).collect::<String>()
    )]
    CannotDecrypt { file: String, recipients: String, tried: String, notes: Vec<String> },
    /// The file is no age file (or a damaged one).
    #[error("{file}: not a readable age file: {why}")]
    NotAgeFile { file: String, why: String },
    /// An identity file cannot be used.
    #[error("identity file {path}: {why}")]
    Identity { path: String, why: String },
    /// Encrypting failed.
    #[error("{file}: cannot encrypt it: {why}")]
    Encrypt { file: String, why: String },
    /// The machine refused a read or a write.
    #[error("{path}: {why}")]
    Io { path: String, why: String },
}

impl SecretsError {
    /// Whether the deployment or the user's keys are at fault (a
    /// configuration error), rather than the machine.
    pub fn is_config(&self) -> bool {
        !matches!(self, SecretsError::Io { .. })
    }

    /// The error as a diagnostic, with what to do about it.
    pub fn diagnostic(&self) -> Diagnostic {
        let d = Diagnostic::new(self.to_string());
        match self {
            SecretsError::CannotDecrypt { .. } => d.hint(format!(
                "point {} at a private key among its recipients (docs/secrets.md), or have someone who can read it \
                 add your public key: batou-run secrets add KEY --environments ENV",
                identities::IDENTITIES_VAR
            )),
            SecretsError::Identity { .. } => {
                d.hint(format!("fix or remove the file, or set {} to other identity files", identities::IDENTITIES_VAR))
            }
            SecretsError::NotAgeFile { .. } => d.hint("restore it from version control"),
            _ => d,
        }
    }
}

impl From<SecretsError> for Diagnostics {
    fn from(e: SecretsError) -> Self {
        e.diagnostic().into()
    }
}

/// Where one environment's secrets are (the files may not exist yet).
#[derive(Debug, Clone)]
pub struct Files {
    pub env: String,
    /// The deployment folder.
    pub deployment: PathBuf,
    /// `secrets.toml.age`.
    pub secrets: PathBuf,
    /// The folder of the environment's secret files, and the prefix of
    /// their names there: `environments/<env>/` and `secret-`, or for a
    /// flat environment `environments/` and `<env>.secret-`.
    dir: PathBuf,
    prefix: String,
}

impl Files {
    /// The files of environment `env`, which must exist.
    pub fn of(deployment: &Path, env: &str) -> Result<Files, Diagnostic> {
        let environments = deployment.join("environments");
        let known = list_environments(deployment);
        if !is_plain_name(env) || !known.iter().any(|k| k == env) {
            return Err(Diagnostic::new(format!("no environment `{env}` in {}", environments.display()))
                .hint(choices_hint(env, known.iter().map(String::as_str))));
        }
        let folder = environments.join(env);
        Ok(if folder.join("environment.toml").is_file() {
            Files {
                env: env.to_string(),
                deployment: deployment.to_path_buf(),
                secrets: folder.join("secrets.toml.age"),
                dir: folder,
                prefix: SECRET_FILE_PREFIX.to_string(),
            }
        } else {
            Files {
                env: env.to_string(),
                deployment: deployment.to_path_buf(),
                secrets: environments.join(format!("{env}.secrets.toml.age")),
                dir: environments,
                prefix: format!("{env}.{SECRET_FILE_PREFIX}"),
            }
        })
    }

    /// The files of every environment of the deployment.
    pub fn all(deployment: &Path) -> Vec<Files> {
        list_environments(deployment).iter().filter_map(|env| Files::of(deployment, env).ok()).collect()
    }

    /// A path as messages show it: relative to the deployment.
    pub fn shown(&self, path: &Path) -> String {
        shown_path(&self.deployment, path)
    }

    /// The path of secret file `name`.
    pub fn secret_file(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{}{name}.age", self.prefix))
    }

    /// The secret files that exist, by name, sorted.
    pub fn secret_files(&self) -> Vec<(String, PathBuf)> {
        let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let file = entry.file_name().to_string_lossy().into_owned();
                let name = file.strip_prefix(&self.prefix)?.strip_suffix(".age")?;
                (is_plain_name(name) && entry.path().is_file()).then(|| (name.to_string(), entry.path()))
            })
            .collect();
        out.sort();
        out
    }

    /// Every file that exists: secrets.toml.age first, then the secret files.
    pub fn existing(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        if self.secrets.is_file() {
            out.push(self.secrets.clone());
        }
        out.extend(self.secret_files().into_iter().map(|(_, p)| p));
        out
    }
}

/// A value set by the secrets: an attribute of a root, or a key of a
/// host's data.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// The root (`[components.NAME]`) or the host (`[hosts.NAME.data]`).
    pub name: String,
    pub key: String,
    pub value: Value,
    /// `environments/<env>/secrets.toml.age:LINE`.
    pub location: String,
}

/// The cleartext of a secrets.toml, checked.
#[derive(Debug, Clone)]
pub struct Cleartext {
    /// The recipients, each with its `file:line`.
    pub recipients: Vec<(Recipient, String)>,
    pub components: Vec<Override>,
    pub host_data: Vec<Override>,
    /// Where the `recipients` value is in the text (to rewrite it).
    recipients_span: std::ops::Range<usize>,
}

impl Cleartext {
    /// The recipients alone.
    pub fn recipient_list(&self) -> Vec<Recipient> {
        self.recipients.iter().map(|(r, _)| r.clone()).collect()
    }

    /// Parses and checks a secrets.toml's cleartext; errors name `shown:LINE`.
    pub fn parse(shown: &str, text: &str) -> Result<Cleartext, Diagnostics> {
        let source = Source::new(shown.to_string(), text.to_string());
        let doc = source.parse()?;
        let mut errors = Diagnostics::default();
        let mut out =
            Cleartext { recipients: Vec::new(), components: Vec::new(), host_data: Vec::new(), recipients_span: 0..0 };
        let top_keys = ["recipients", "components", "hosts"];
        for (key, value) in doc.get_ref().iter() {
            let at = source.location(key.span().start);
            match key.get_ref().as_ref() {
                "recipients" => {
                    out.recipients_span = value.span();
                    let DeValue::Array(items) = value.get_ref() else {
                        errors.push(
                            Diagnostic::new(format!(
                                "`recipients` must be a list of public keys, not {}",
                                type_name(value.get_ref())
                            ))
                            .at(at),
                        );
                        continue;
                    };
                    for item in items.iter() {
                        let at = source.location(item.span().start);
                        match item.get_ref() {
                            DeValue::String(s) => match Recipient::parse(s) {
                                Ok(r) => out.recipients.push((r, at)),
                                Err(why) => errors.push(bad_recipient(s, &why).at(at)),
                            },
                            other => errors.push(
                                Diagnostic::new(format!("a recipient must be a string, not {}", type_name(other)))
                                    .at(at),
                            ),
                        }
                    }
                }
                "components" => {
                    for (name, table) in tables(&source, value, "[components]", &mut errors) {
                        if !is_plain_name(&name) {
                            errors.push(
                                Diagnostic::new(format!("`{name}` is not a component name"))
                                    .at(source.location(table.1))
                                    .hint("use the name of a root of the environment"),
                            );
                            continue;
                        }
                        for (key, value) in table.0.iter() {
                            let at = source.location(key.span().start);
                            if key.get_ref().as_ref() == "kind" {
                                errors.push(
                                    Diagnostic::new(format!(
                                        "[components.{name}] `kind` cannot be a secret: a root's kind is set in the \
                                         environment file"
                                    ))
                                    .at(at),
                                );
                                continue;
                            }
                            out.components.push(Override {
                                name: name.clone(),
                                key: key.get_ref().to_string(),
                                value: to_json(value.get_ref()),
                                location: at,
                            });
                        }
                    }
                }
                "hosts" => {
                    for (host, table) in tables(&source, value, "[hosts]", &mut errors) {
                        for (key, value) in table.0.iter() {
                            let at = source.location(key.span().start);
                            if key.get_ref().as_ref() != "data" {
                                errors.push(
                                    Diagnostic::new(format!(
                                        "unknown key `{}` in [hosts.{host}]: secrets set only host data",
                                        key.get_ref()
                                    ))
                                    .at(at)
                                    .hint(format!("write it as [hosts.{host}.data] {} = …", key.get_ref())),
                                );
                                continue;
                            }
                            let DeValue::Table(data) = value.get_ref() else {
                                errors.push(
                                    Diagnostic::new(format!(
                                        "[hosts.{host}] `data` must be a table, not {}",
                                        type_name(value.get_ref())
                                    ))
                                    .at(at),
                                );
                                continue;
                            };
                            for (key, value) in data.iter() {
                                out.host_data.push(Override {
                                    name: host.clone(),
                                    key: key.get_ref().to_string(),
                                    value: to_json(value.get_ref()),
                                    location: source.location(key.span().start),
                                });
                            }
                        }
                    }
                }
                other => errors.push(
                    Diagnostic::new(format!("unknown key `{other}` in the secrets file")).at(at).hint(format!(
                        "{}; attributes go in [components.NAME], host data in [hosts.NAME.data]",
                        choices_hint(other, top_keys)
                    )),
                ),
            }
        }
        if out.recipients.is_empty() && errors.is_empty() {
            errors.push(
                Diagnostic::new("the secrets file lists no recipients: nobody could read it")
                    .at(source.location(out.recipients_span.start))
                    .hint("add recipients = [\"age1…\"] with your public key (age-keygen -y KEYFILE)"),
            );
        }
        errors.into_result(out)
    }
}

/// The tables of a table (`[components.*]`, `[hosts.*]`), each with the
/// offset it starts at; what is no table is an error.
fn tables<'s, 'i>(
    source: &Source,
    value: &'s toml::Spanned<DeValue<'i>>,
    what: &str,
    errors: &mut Diagnostics,
) -> Vec<(String, (&'s toml::de::DeTable<'i>, usize))> {
    let DeValue::Table(table) = value.get_ref() else {
        errors.push(
            Diagnostic::new(format!("{what} must be a table, not {}", type_name(value.get_ref())))
                .at(source.location(value.span().start)),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, inner) in table.iter() {
        let name = name.get_ref().to_string();
        match inner.get_ref() {
            DeValue::Table(t) => out.push((name, (t, inner.span().start))),
            other => errors.push(
                Diagnostic::new(format!(
                    "{}.{name}] must be a table, not {}",
                    what.trim_end_matches(']'),
                    type_name(other)
                ))
                .at(source.location(inner.span().start)),
            ),
        }
    }
    out
}

/// A recipient that cannot be parsed: which one (shortened, never a
/// private key) and why.
pub fn bad_recipient(text: &str, why: &str) -> Diagnostic {
    let shown = if why.contains("private key") { "(a private key, not shown)".to_string() } else { file::short(text) };
    Diagnostic::new(format!("recipient `{shown}` cannot be used: {why}"))
}

/// An environment's secrets, decrypted and checked.
#[derive(Debug, Clone)]
pub struct EnvironmentSecrets {
    /// Attribute overrides, by root.
    pub components: Vec<Override>,
    /// Host data overrides, by host.
    pub host_data: Vec<Override>,
    /// The secret files' contents, by name (`secret-<name>.age`).
    pub files: BTreeMap<String, Vec<u8>>,
}

/// How a secret file is named where its content is masked.
pub fn file_key(name: &str) -> String {
    format!("secret file {name}")
}

impl EnvironmentSecrets {
    /// Every secret, for masking: (key, value) for each string or number
    /// in an override (in lists and tables too; the key names the
    /// override: `components.db.password`, `hosts.web.data.token`), and
    /// each secret file's content as text (`secret file NAME`).
    pub fn masked(&self) -> Vec<Secret> {
        fn strings(key: &str, value: &Value, out: &mut Vec<Secret>) {
            match value {
                Value::String(s) => out.push((key.to_string(), s.clone())),
                Value::Array(items) => items.iter().for_each(|v| strings(key, v, out)),
                Value::Object(map) => map.values().for_each(|v| strings(key, v, out)),
                Value::Number(n) => out.push((key.to_string(), n.to_string())),
                _ => {}
            }
        }
        let mut out = Vec::new();
        for o in &self.components {
            strings(&format!("components.{}.{}", o.name, o.key), &o.value, &mut out);
        }
        for o in &self.host_data {
            strings(&format!("hosts.{}.data.{}", o.name, o.key), &o.value, &mut out);
        }
        for (name, bytes) in &self.files {
            out.push((file_key(name), String::from_utf8_lossy(bytes).into_owned()));
        }
        out
    }

    /// Puts the overrides into the environment: attributes into their
    /// roots, data into their hosts. A key the environment sets too, a
    /// section for a root no host deploys or for a host the environment
    /// lacks are errors; a secret too short to be masked is a warning.
    fn apply(&self, env: &mut Environment, errors: &mut Diagnostics, warnings: &mut Diagnostics) {
        let deployed: Vec<String> = env.deployed_roots().into_iter().map(String::from).collect();
        let mut refused_sections: Vec<&str> = Vec::new();
        for o in &self.components {
            if !deployed.contains(&o.name) {
                if !refused_sections.contains(&o.name.as_str()) {
                    refused_sections.push(&o.name);
                    errors.push(
                        Diagnostic::new(format!(
                            "[components.{}] of the secrets: no host of environment `{}` deploys `{}`",
                            o.name, env.name, o.name
                        ))
                        .at(o.location.clone())
                        .hint(format!(
                            "{}; add it to the `components` of a host in {}, or remove the section with: \
                             batou-run secrets edit {}",
                            choices_hint(&o.name, deployed.iter().map(String::as_str)),
                            env.file,
                            env.name
                        )),
                    );
                }
                continue;
            }
            if let Err(at) = env.set_attribute(&o.name, &o.key, o.value.clone(), &o.location) {
                errors.push(both_places(&format!("attribute `{}` of `{}`", o.key, o.name), &at, &o.location));
            }
        }
        for o in &self.host_data {
            match env.set_host_data(&o.name, &o.key, o.value.clone(), &o.location) {
                Ok(()) => {}
                Err(Some(at)) => {
                    errors.push(both_places(&format!("data `{}` of host `{}`", o.key, o.name), &at, &o.location))
                }
                Err(None) => {
                    let hosts: Vec<&str> = env.hosts.iter().map(|h| h.name.as_str()).collect();
                    errors.push(
                        Diagnostic::new(format!(
                            "[hosts.{}.data] of the secrets: environment `{}` has no host `{}`",
                            o.name, env.name, o.name
                        ))
                        .at(o.location.clone())
                        .hint(choices_hint(&o.name, hosts)),
                    );
                }
            }
        }
        for o in self.components.iter().chain(&self.host_data) {
            if o.value.as_str().is_some_and(crate::redact::too_short) {
                warnings.push(
                    Diagnostic::new(format!(
                        "`{}` is shorter than {} characters: it is not masked in output",
                        o.key,
                        crate::redact::MIN_LEN
                    ))
                    .at(o.location.clone())
                    .hint("a secret that short is guessed more easily than it is hidden; use a longer one"),
                );
            }
        }
    }
}

/// Puts an environment's secrets (if it has any) into it, and checks that
/// every secret file granted exists: the errors and the warnings.
pub fn into_environment(secrets: Option<&EnvironmentSecrets>, env: &mut Environment) -> (Diagnostics, Diagnostics) {
    let mut errors = Diagnostics::default();
    let mut warnings = Diagnostics::default();
    if let Some(secrets) = secrets {
        secrets.apply(env, &mut errors, &mut warnings);
    }
    let files: Vec<&str> = secrets.map(|s| s.files.keys().map(String::as_str).collect()).unwrap_or_default();
    for config in env.grants.values() {
        for (name, at) in config.grants.secret_files.iter().zip(&config.secret_file_locations) {
            if !files.contains(&name.as_str()) {
                errors.push(
                    Diagnostic::new(format!(
                        "`secret_files` grants `{name}`, but the environment has no such secret file"
                    ))
                    .at(at.clone())
                    .hint(format!(
                        "{}; create it with: batou-run secrets edit {} secret-{name}",
                        choices_hint(name, files.iter().copied()),
                        env.name
                    )),
                );
            }
        }
    }
    (errors.in_stage(Stage::Environment), warnings)
}

/// A value the environment and the secrets both set.
fn both_places(what: &str, environment: &str, secrets: &str) -> Diagnostic {
    Diagnostic::new(format!("{what} is set both in the environment ({environment}) and in the secrets ({secrets})"))
        .at(secrets.to_string())
        .hint(format!("set it in one place: remove it from {environment}, or from the secrets"))
}

/// Reads environment `env`'s secrets, if it has any, finding the
/// identities to decrypt them with only then. Problems are in the
/// environment stage.
pub fn load(deployment: &Path, env: &str) -> Result<Option<EnvironmentSecrets>, Diagnostics> {
    let files = Files::of(deployment, env).map_err(|d| Diagnostics::from(d).in_stage(Stage::Environment))?;
    if files.existing().is_empty() {
        return Ok(None);
    }
    let identities = Identities::discover().map_err(|e| Diagnostics::from(e).in_stage(Stage::Environment))?;
    load_files(&files, &identities).map_err(|d| d.in_stage(Stage::Environment))
}

fn load_files(files: &Files, identities: &Identities) -> Result<Option<EnvironmentSecrets>, Diagnostics> {
    let secret_files = files.secret_files();
    let shown = files.shown(&files.secrets);
    if !files.secrets.is_file() {
        if let Some((_, path)) = secret_files.first() {
            return Err(Diagnostic::new(format!("secret file without a secrets file: {shown} does not exist"))
                .at(files.shown(path))
                .hint(format!("create it with: batou-run secrets edit {} --recipient KEY", files.env))
                .into());
        }
        return Ok(None);
    }
    let cleartext = read_cleartext(files, identities)?;
    let mut errors = Diagnostics::default();
    let mut contents = BTreeMap::new();
    for (name, path) in secret_files {
        match identities.decrypt(&path, &files.shown(&path)) {
            Ok(plain) => {
                contents.insert(name, plain.as_ref().clone());
            }
            Err(e) => errors.push(e.diagnostic()),
        }
    }
    errors.into_result(Some(EnvironmentSecrets {
        components: cleartext.components,
        host_data: cleartext.host_data,
        files: contents,
    }))
}

/// The decrypted, checked secrets.toml of `files` (which exists).
pub fn read_cleartext(files: &Files, identities: &Identities) -> Result<Cleartext, Diagnostics> {
    let shown = files.shown(&files.secrets);
    let plain = identities.decrypt(&files.secrets, &shown)?;
    let text = std::str::from_utf8(&plain)
        .map_err(|_| Diagnostic::new("the decrypted secrets file is not UTF-8 text").at(shown.clone()))?;
    Cleartext::parse(&shown, text)
}

/// Encrypts `plain` to `recipients` and replaces `path` with it, whole.
pub fn write(files: &Files, path: &Path, plain: &[u8], recipients: &[Recipient]) -> Result<(), SecretsError> {
    let shown = files.shown(path);
    let sealed = file::encrypt(plain, recipients).map_err(|why| SecretsError::Encrypt { file: shown.clone(), why })?;
    crate::atomic_file::write(path, &sealed, PRIVATE_FILE)
        .map_err(|e| SecretsError::Io { path: shown, why: format!("cannot write it: {e}") })
}

/// Whether the file at `path` was encrypted to exactly `recipients`, by
/// its record (`None`: no record, or not readable).
pub fn encrypted_to(path: &Path, recipients: &[Recipient]) -> Option<bool> {
    let bytes = std::fs::read(path).ok()?;
    let stanzas = file::header(&bytes).ok()?;
    file::encrypted_to(&stanzas, &recipients.iter().map(|r| r.key.clone()).collect::<Vec<_>>())
}

/// The stanzas of an age file, described (for `summary`).
pub fn describe(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    file::header(&bytes).ok().map(|s| file::describe(&s))
}

/// `text` (a secrets.toml) with its `recipients` list replaced by `keys`.
pub fn with_recipients(text: &str, cleartext: &Cleartext, keys: &[String]) -> String {
    let list: String = keys.iter().map(|k| format!("    {},\n", toml_string(k))).collect();
    let span = cleartext.recipients_span.clone();
    format!("{}[\n{list}]{}", &text[..span.start], &text[span.end..])
}

/// A TOML basic string.
pub fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// What [`rewrite`] did to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rewritten {
    /// Encrypted anew.
    Encrypted(String),
    /// Already encrypted to the recipients (without `force`).
    UpToDate(String),
}

/// Encrypts an environment's files to the recipients `cleartext` lists:
/// secrets.toml.age to `text` (its new cleartext, when given, else as
/// it is), each secret file as it is. Without `force`, a file whose
/// record shows these very recipients is left alone (unless it gets a new
/// text). Files that cannot be decrypted are reported, the others
/// written.
pub fn rewrite(
    files: &Files,
    identities: &Identities,
    text: Option<&str>,
    cleartext: &Cleartext,
    force: bool,
) -> (Vec<Rewritten>, Diagnostics) {
    let recipients = cleartext.recipient_list();
    let mut done = Vec::new();
    let mut errors = Diagnostics::default();
    let mut targets: Vec<(PathBuf, Option<Vec<u8>>)> =
        vec![(files.secrets.clone(), text.map(|t| t.as_bytes().to_vec()))];
    targets.extend(files.secret_files().into_iter().map(|(_, p)| (p, None)));
    for (path, new) in targets {
        let shown = files.shown(&path);
        if new.is_none() && !force && encrypted_to(&path, &recipients) == Some(true) {
            done.push(Rewritten::UpToDate(shown));
            continue;
        }
        let plain = match new {
            Some(plain) => plain,
            None => match identities.decrypt(&path, &shown) {
                Ok(plain) => plain.as_ref().clone(),
                Err(e) => {
                    errors.push(e.diagnostic());
                    continue;
                }
            },
        };
        match write(files, &path, &plain, &recipients) {
            Ok(()) => {
                identities.remember(&path, plain);
                done.push(Rewritten::Encrypted(shown));
            }
            Err(e) => errors.push(e.diagnostic()),
        }
    }
    (done, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> String {
        age::x25519::Identity::generate().to_public().to_string()
    }

    /// The deploy's half reads secrets from its threads.
    #[test]
    fn identities_and_secrets_cross_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Identities>();
        shared::<EnvironmentSecrets>();
    }

    #[test]
    fn a_cleartext_is_read_with_lines() {
        let k = key();
        let text = format!(
            "recipients = [\"{k}\"]\n\n[components.db]\npassword = \"hunter2\"\nport = 5432\n\n\
             [hosts.web.data]\ntoken = [\"a\", \"b\"]\n"
        );
        let c = Cleartext::parse("environments/dev/secrets.toml.age", &text).unwrap();
        assert_eq!(c.recipients[0].1, "environments/dev/secrets.toml.age:1");
        assert_eq!(c.components[0].name, "db");
        assert_eq!(c.components[0].key, "password");
        assert_eq!(c.components[0].location, "environments/dev/secrets.toml.age:4");
        assert_eq!(c.components[1].value, Value::from(5432));
        assert_eq!(c.host_data[0].name, "web");
        assert_eq!(c.host_data[0].location, "environments/dev/secrets.toml.age:8");
        let secrets = EnvironmentSecrets {
            components: c.components.clone(),
            host_data: c.host_data.clone(),
            files: BTreeMap::from([("x".to_string(), b"filedata".to_vec())]),
        };
        let pairs = |list: &[(&str, &str)]| -> Vec<Secret> {
            list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        assert_eq!(
            secrets.masked(),
            pairs(&[
                ("components.db.password", "hunter2"),
                ("components.db.port", "5432"),
                ("hosts.web.data.token", "a"),
                ("hosts.web.data.token", "b"),
                ("secret file x", "filedata")
            ])
        );
        let rewritten = with_recipients(&text, &c, &[k.clone(), key()]);
        let again = Cleartext::parse("f", &rewritten).unwrap();
        assert_eq!(again.recipients.len(), 2);
        let values = |c: &Cleartext| c.components.iter().map(|o| o.value.clone()).collect::<Vec<_>>();
        assert_eq!(values(&again), values(&c));
    }

    #[test]
    fn mistakes_are_named_with_their_line() {
        let k = key();
        let err = Cleartext::parse(
            "s.age",
            &format!(
                "recipients = [\"{k}\", \"nope\"]\nrecipents = 1\n[hosts.a]\nx = 1\n[components.c]\nkind = \"file\"\n"
            ),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("s.age:1: recipient `nope` cannot be used: not a recipient"), "{err}");
        assert!(err.contains("s.age:2: unknown key `recipents` in the secrets file"), "{err}");
        assert!(err.contains("did you mean 'recipients'?"), "{err}");
        assert!(err.contains("s.age:4: unknown key `x` in [hosts.a]"), "{err}");
        assert!(err.contains("s.age:6: [components.c] `kind` cannot be a secret"), "{err}");
        let err = Cleartext::parse("s.age", "recipients = [\n").unwrap_err().to_string();
        assert!(err.starts_with("s.age:") && err.contains("malformed TOML"), "{err}");
        let err = Cleartext::parse("s.age", "[components.c]\nx = 1\n").unwrap_err().to_string();
        assert!(err.contains("lists no recipients"), "{err}");
    }
}
