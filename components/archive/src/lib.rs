//! The standard `extract` component of batou-run, embedded in the runner:
//! an archive unpacked into a folder, inside the component, with pure-Rust
//! decoders (`tar`, `flate2` on miniz_oxide, `lzma-rust2`, `bzip2` on
//! libbz2-rs-sys, `zip`), so the host needs no `tar` or `unzip`.
//!
//! The archive is read through `files.read-at` in pieces of 1 MiB and
//! each file written through a `files` writer, so an archive of hundreds
//! of MiB never sits in the component's memory. It is read twice: once to
//! check every entry (a path leading out, an absolute one, a link leading
//! out, a device: the archive is refused before anything is written), then
//! to unpack. What was unpacked is recorded in a manifest in the workdir;
//! verify compares the archive's digest and every recorded file with it.

use std::collections::BTreeSet;
use std::io::{BufReader, Read, Seek, SeekFrom};

use batou_sdk::prelude::*;
use batou_sdk::stdlib;
use serde::{Deserialize, Serialize};
use sha2::Digest;

mod names;

use names::{Target, entry_path};

/// How much of the archive one `read-at` reads, and of an entry one
/// `append` writes.
const PIECE: usize = 1 << 20;

/// An archive unpacked into a folder.
#[derive(Deserialize)]
#[serde(transparent)]
struct Extract(stdlib::Extract);

impl std::ops::Deref for Extract {
    type Target = stdlib::Extract;

    fn deref(&self) -> &stdlib::Extract {
        &self.0
    }
}

/// The archive formats, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Format {
    Tar,
    TarGz,
    TarXz,
    TarBz2,
    Zip,
}

const FORMATS: &[(&str, Format)] = &[
    ("tar", Format::Tar),
    ("tar.gz", Format::TarGz),
    ("tgz", Format::TarGz),
    ("tar.xz", Format::TarXz),
    ("txz", Format::TarXz),
    ("tar.bz2", Format::TarBz2),
    ("tbz2", Format::TarBz2),
    ("tbz", Format::TarBz2),
    ("zip", Format::Zip),
];

/// What one entry of the archive became.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Unpacked {
    /// Below the target folder.
    path: String,
    #[serde(flatten)]
    what: What,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum What {
    File { sha256: String, mode: u32 },
    Directory { mode: u32 },
    Symlink { target: String },
}

/// What an extract did last, kept in the workdir.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Manifest {
    archive_sha256: String,
    format: Format,
    strip: u32,
    entries: Vec<Unpacked>,
}

impl Component for Extract {
    fn kind() -> Kind {
        stdlib::Extract::spec()
    }

    fn configure(&mut self) -> Result<()> {
        if self.archive.is_empty() {
            return Err(bad_attribute("archive", "give the archive's path"));
        }
        if self.target.trim_end_matches('/').is_empty() {
            return Err(bad_attribute("target", "give the folder to unpack into"));
        }
        self.format()?;
        Ok(())
    }

    fn verify(&mut self) -> Result<()> {
        let Some(digest) = files::digest(&self.archive)? else {
            return Err(update_needed(format!("{} is not there yet: unpacked once it is", self.archive)));
        };
        let Some(manifest) = self.manifest()? else {
            return Err(update_needed(format!("not unpacked into {} yet", self.target)));
        };
        if manifest.archive_sha256 != digest || manifest.format != self.format()? || manifest.strip != self.strip {
            return Err(update_needed(format!("{} changed since it was unpacked", self.archive)));
        }
        let target = self.target_folder();
        let mut differ = manifest.entries.iter().filter_map(|e| match differs(&target, e) {
            Ok(None) => None,
            Ok(Some(why)) => Some(Ok(format!("{}: {why}", e.path))),
            Err(err) => Some(Err(err)),
        });
        match differ.next() {
            None => Ok(()),
            Some(first) => {
                let first = first?;
                let more = differ.count();
                let more = if more > 0 { format!(" (and {more} more)") } else { String::new() };
                Err(update_needed(format!("{first}{more}: unpacked again")))
            }
        }
    }

    fn update(&mut self) -> Result<()> {
        let digest = files::digest(&self.archive)?.ok_or_else(|| {
            Error::NotFound(format!(
                "{} does not exist: the archive to unpack (make it, or download it, before this component)",
                self.archive
            ))
        })?;
        let format = self.format()?;
        let target = self.target_folder();
        // Every entry is checked before one is written.
        let mut checked = Vec::new();
        self.entries(format, &target, &mut |entry, _| {
            checked.push(entry.path.clone());
            Ok(())
        })?;
        files::mkdir(&target.root, true)?;
        let mut unpacked = Vec::new();
        self.entries(format, &target, &mut |entry, data| {
            unpacked.push(write_entry(&target, entry, data, &unpacked)?);
            Ok(())
        })?;
        if unpacked.len() != checked.len() {
            return Err(Error::Failed(format!("{} changed while it was unpacked: deploy again", self.archive)));
        }
        // What the last archive had and this one lacks goes.
        if let Some(old) = self.manifest()? {
            let now: BTreeSet<&str> = unpacked.iter().map(|e| e.path.as_str()).collect();
            for gone in old.entries.iter().rev().filter(|e| !now.contains(e.path.as_str())) {
                let path = target.join(&gone.path);
                match (&gone.what, files::stat(&path)?) {
                    (_, None) => {}
                    (What::Directory { .. }, Some(_)) => {
                        // Only an empty one: what is in it is someone's.
                        if files::list(&path)?.is_empty() {
                            files::remove(&path, false)?;
                        }
                    }
                    (_, Some(_)) => files::remove(&path, false)?,
                }
            }
        }
        let manifest = Manifest { archive_sha256: digest, format, strip: self.strip, entries: unpacked };
        files::write(&self.manifest_path(), serde_json::to_vec(&manifest)?)?;
        log::debug(format!("unpacked {} entries of {} into {}", manifest.entries.len(), self.archive, target.root));
        Ok(())
    }
}

impl Extract {
    fn format(&self) -> Result<Format> {
        let pick = |name: &str| FORMATS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f);
        let known = || FORMATS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
        if let Some(format) = &self.format {
            return pick(format).ok_or_else(|| bad_attribute("format", format!("`{format}` is not one of {}", known())));
        }
        let name = self.archive.rsplit('/').next().unwrap_or_default().to_ascii_lowercase();
        FORMATS.iter().filter(|(n, _)| name.ends_with(&format!(".{n}"))).map(|(_, f)| *f).next().ok_or_else(|| {
            bad_attribute(
                "archive",
                format!("`{}`: the format is not in its name; set `format` to one of {}", self.archive, known()),
            )
        })
    }

    /// The target folder, absolute.
    fn target_folder(&self) -> Target {
        let target = self.target.trim_end_matches('/');
        let root = if target.starts_with('/') {
            target.to_owned()
        } else {
            format!("{}/{target}", model::workdir().trim_end_matches('/'))
        };
        Target { root }
    }

    /// The manifest's place: in the workdir, named by the target folder,
    /// so the target holds only what the archive has.
    fn manifest_path(&self) -> String {
        let digest = sha2::Sha256::digest(self.target_folder().root.as_bytes());
        let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!(".batou-run-extract-{hex}.json")
    }

    fn manifest(&self) -> Result<Option<Manifest>> {
        let path = self.manifest_path();
        if files::stat(&path)?.is_none() {
            return Ok(None);
        }
        // A manifest that does not parse (an older one, or edited) is as
        // none: the archive is unpacked again.
        Ok(serde_json::from_slice(&files::read(&path)?).ok())
    }

    /// Calls `each` with every entry the archive holds below `strip`, in
    /// order, checked; with a reader of a file's bytes.
    fn entries(
        &self,
        format: Format,
        target: &Target,
        each: &mut dyn FnMut(&Entry, &mut dyn Read) -> Result<()>,
    ) -> Result<()> {
        let size = files::stat(&self.archive)?
            .ok_or_else(|| Error::NotFound(format!("{} does not exist", self.archive)))?
            .size;
        let source = BufReader::with_capacity(PIECE, Remote { path: self.archive.clone(), pos: 0, len: size });
        let broken = |e: std::io::Error| Error::Failed(format!("{} is not a readable {format:?} archive: {e}", self.archive));
        match format {
            Format::Zip => zip_entries(source, self.strip, target, each, &self.archive),
            Format::Tar => tar_entries(source, self.strip, target, each).map_err(|e| e.or_io(broken)),
            Format::TarGz => {
                tar_entries(flate2::read::MultiGzDecoder::new(source), self.strip, target, each).map_err(|e| e.or_io(broken))
            }
            Format::TarXz => {
                tar_entries(lzma_rust2::XzReader::new(source, true), self.strip, target, each).map_err(|e| e.or_io(broken))
            }
            Format::TarBz2 => {
                tar_entries(bzip2::read::MultiBzDecoder::new(source), self.strip, target, each).map_err(|e| e.or_io(broken))
            }
        }
    }
}

/// One checked entry.
pub(crate) struct Entry {
    /// Below the target folder, without `.` or `..`.
    pub path: String,
    pub kind: EntryKind,
    /// Permission bits (no setuid, setgid or sticky bit).
    pub mode: u32,
}

pub(crate) enum EntryKind {
    File,
    Directory,
    /// A symlink with this target (checked to stay beneath the folder).
    Symlink(String),
    /// A hard link to this earlier entry.
    HardLink(String),
}

/// An error while reading entries: the component's, or the archive's.
enum ReadError {
    Component(Error),
    Io(std::io::Error),
}

impl From<Error> for ReadError {
    fn from(e: Error) -> Self {
        ReadError::Component(e)
    }
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> Self {
        ReadError::Io(e)
    }
}

impl ReadError {
    fn or_io(self, io: impl FnOnce(std::io::Error) -> Error) -> Error {
        match self {
            ReadError::Component(e) => e,
            ReadError::Io(e) => io(e),
        }
    }
}

fn tar_entries(
    reader: impl Read,
    strip: u32,
    target: &Target,
    each: &mut dyn FnMut(&Entry, &mut dyn Read) -> Result<()>,
) -> std::result::Result<(), ReadError> {
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let Some(path) = entry_path(&raw, strip)? else { continue };
        let mode = entry.header().mode().unwrap_or(0o644) & 0o777;
        let link = || -> Result<String> {
            let name = entry.link_name_bytes().map(|l| l.into_owned()).unwrap_or_default();
            String::from_utf8(name).map_err(|_| refused(&shown, "its link target is not UTF-8"))
        };
        let kind = match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => EntryKind::File,
            tar::EntryType::Directory => EntryKind::Directory,
            tar::EntryType::Symlink => EntryKind::Symlink(target.symlink(&path, &link()?, &shown)?),
            tar::EntryType::Link => {
                let to = link()?;
                match entry_path(to.as_bytes(), strip)? {
                    Some(to) => EntryKind::HardLink(to),
                    None => return Err(refused(&shown, "it is a hard link to a path the strip removes").into()),
                }
            }
            other => return Err(refused(&shown, &format!("it is a {other:?} entry, not a file, folder or link")).into()),
        };
        each(&Entry { path, kind, mode }, &mut entry)?;
    }
    Ok(())
}

fn zip_entries(
    reader: impl Read + Seek,
    strip: u32,
    target: &Target,
    each: &mut dyn FnMut(&Entry, &mut dyn Read) -> Result<()>,
    archive_name: &str,
) -> Result<()> {
    let broken = |e: zip::result::ZipError| Error::Failed(format!("{archive_name} is not a readable zip archive: {e}"));
    let mut archive = zip::ZipArchive::new(reader).map_err(broken)?;
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).map_err(broken)?;
        let raw = file.name_raw().to_vec();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let Some(path) = entry_path(&raw, strip)? else { continue };
        let mode = file.unix_mode().map(|m| m & 0o777);
        let kind = if file.is_symlink() {
            let mut to = String::new();
            file.read_to_string(&mut to).map_err(|_| refused(&shown, "its link target is not UTF-8"))?;
            EntryKind::Symlink(target.symlink(&path, &to, &shown)?)
        } else if file.is_dir() {
            EntryKind::Directory
        } else {
            EntryKind::File
        };
        let mode = mode.unwrap_or(if matches!(kind, EntryKind::Directory) { 0o755 } else { 0o644 });
        each(&Entry { path, kind, mode }, &mut file)?;
    }
    Ok(())
}

/// The error for an entry that is not unpacked.
fn refused(entry: &str, why: &str) -> Error {
    Error::Failed(format!(
        "the archive's entry `{entry}` is refused: {why}; nothing was unpacked (an archive that would write outside its \
         folder is not one to trust)"
    ))
}

/// Writes `entry` below `target`; what it became.
fn write_entry(target: &Target, entry: &Entry, data: &mut dyn Read, done: &[Unpacked]) -> Result<Unpacked> {
    let path = target.join(&entry.path);
    if let Some(parent) = files::parent(&path) {
        files::mkdir(parent, true)?;
    }
    let existing = files::stat(&path)?;
    let what = match &entry.kind {
        EntryKind::Directory => {
            match existing {
                Some(s) if s.is_dir() => {}
                Some(_) => {
                    files::remove(&path, false)?;
                    files::mkdir(&path, false)?;
                }
                None => files::mkdir(&path, false)?,
            }
            // Its owner must be able to enter and fill it.
            let mode = entry.mode | 0o700;
            files::set_mode(&path, mode)?;
            What::Directory { mode }
        }
        EntryKind::Symlink(to) => {
            if existing.is_some() {
                replaceable(&path, existing.as_ref())?;
                files::remove(&path, false)?;
            }
            files::symlink(to, &path)?;
            What::Symlink { target: to.clone() }
        }
        EntryKind::File => {
            if existing.as_ref().is_some_and(|s| s.is_symlink()) {
                // Replaced, not written through.
                files::remove(&path, false)?;
            } else {
                replaceable(&path, existing.as_ref())?;
            }
            What::File { sha256: write_file(&path, data, entry.mode)?, mode: entry.mode }
        }
        EntryKind::HardLink(to) => {
            // A copy of the earlier file: the runner makes no hard links
            // (their other name could be anywhere).
            let Some(Unpacked { what: What::File { sha256, mode }, .. }) = done.iter().rev().find(|u| &u.path == to) else {
                return Err(refused(&entry.path, &format!("it is a hard link to `{to}`, which is no file before it")));
            };
            if existing.as_ref().is_some_and(|s| s.is_symlink()) {
                files::remove(&path, false)?;
            }
            let from = target.join(to);
            let copied = write_file(&path, &mut Remote { len: u64::MAX, pos: 0, path: from }, *mode)?;
            debug_assert_eq!(&copied, sha256);
            What::File { sha256: copied, mode: *mode }
        }
    };
    Ok(Unpacked { path: entry.path.clone(), what })
}

/// A file or nothing may be replaced by a file or link; a folder is
/// someone's, and is not.
fn replaceable(path: &str, existing: Option<&files::Stat>) -> Result<()> {
    match existing {
        Some(s) if s.is_dir() => Err(Error::Failed(format!(
            "{path} is a folder, where the archive has a file or link: move it away"
        ))),
        _ => Ok(()),
    }
}

/// Streams `data` into `path` with `mode`; its sha256.
fn write_file(path: &str, data: &mut dyn Read, mode: u32) -> Result<String> {
    let mut writer = files::Writer::create(path, Some(mode))?;
    let mut sha = sha2::Sha256::new();
    let mut buf = vec![0u8; PIECE];
    loop {
        let n = data.read(&mut buf).map_err(|e| Error::Failed(format!("reading the archive's {path}: {e}")))?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        writer.append(&buf[..n])?;
    }
    writer.finish()?;
    // set-mode too: a rewrite keeps the old file's mode.
    files::set_mode(path, mode)?;
    Ok(sha.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Why an unpacked entry is not as the manifest says, if it is not.
fn differs(target: &Target, entry: &Unpacked) -> Result<Option<String>> {
    let path = target.join(&entry.path);
    let Some(stat) = files::stat(&path)? else { return Ok(Some("missing".to_owned())) };
    Ok(match &entry.what {
        What::Directory { .. } if !stat.is_dir() => Some("not a folder".to_owned()),
        What::Directory { mode } if stat.mode & 0o777 != *mode => Some(format!("mode {:o}, not {mode:o}", stat.mode & 0o777)),
        What::Directory { .. } => None,
        What::Symlink { .. } if !stat.is_symlink() => Some("not a symlink".to_owned()),
        What::Symlink { target } => (files::read_link(&path)? != *target).then(|| "points elsewhere".to_owned()),
        What::File { .. } if !stat.is_file() => Some("not a file".to_owned()),
        What::File { mode, .. } if stat.mode & 0o777 != *mode => Some(format!("mode {:o}, not {mode:o}", stat.mode & 0o777)),
        What::File { sha256, .. } => {
            (files::digest(&path)?.as_deref() != Some(sha256.as_str())).then(|| "content changed".to_owned())
        }
    })
}

/// The archive (or an unpacked file), read through `files.read-at`.
struct Remote {
    path: String,
    pos: u64,
    /// Its size (u64::MAX: read to its end).
    len: u64,
}

impl Read for Remote {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let want = buf.len().min(PIECE).min(usize::try_from(self.len - self.pos).unwrap_or(PIECE)) as u32;
        let data = files::read_at(&self.path, self.pos, want).map_err(|e| std::io::Error::other(e.to_string()))?;
        buf[..data.len()].copy_from_slice(&data);
        self.pos += data.len() as u64;
        Ok(data.len())
    }
}

impl Seek for Remote {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

batou_sdk::export!(Extract);
