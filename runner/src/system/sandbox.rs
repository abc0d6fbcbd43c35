//! The path grants of one root, enforced on the target.
//!
//! A path a component names is first made absolute and normalised
//! lexically, then matched against the granted directories (the root's
//! workdir, `paths.write`, `paths.read`). Everything after that happens
//! through a handle on the granted directory: `openat2` with
//! `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS` for the way down, then the
//! `*at` calls on the parent's handle for the last name. So a `..` or a
//! symlink that leads out, a symlink swapped in between a check and a use,
//! or a `/proc/self/...` magic link is refused by the kernel, not by a
//! check that can be raced (a kernel without `openat2` gets the same from
//! [`walk_beneath`]). Files with more than one hard link are not
//! read or changed in place: the other link may be outside the grants.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::error::{SysError, io_error};
use crate::plan::grants::{Grant, Grants};

/// How `openat2` may resolve a path below a granted directory.
const BENEATH: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_MAGICLINKS);
/// Symlinks followed when writing through a link, as the kernel's limit.
const MAX_LINKS: usize = 40;

/// What a call needs of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// The kind of object a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Directory,
    Symlink,
    Other,
}

/// What `stat` learns of a path, without following a final symlink.
#[derive(Debug, Clone)]
pub struct Meta {
    pub kind: Kind,
    pub size: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub links: u64,
}

impl Meta {
    fn of(st: &rfs::Stat) -> Meta {
        let kind = match rfs::FileType::from_raw_mode(st.st_mode) {
            rfs::FileType::RegularFile => Kind::File,
            rfs::FileType::Directory => Kind::Directory,
            rfs::FileType::Symlink => Kind::Symlink,
            _ => Kind::Other,
        };
        Meta {
            kind,
            size: st.st_size as u64,
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            links: u64::from(st.st_nlink),
        }
    }
}

/// A granted directory on this host.
#[derive(Debug)]
struct Granted {
    path: PathBuf,
    write: bool,
    grant: Grant,
    /// A handle on it, once it was opened: the environment named it, so
    /// it is trusted for the root's deploy, and each call saves a walk
    /// down its path.
    handle: std::sync::OnceLock<Arc<OwnedFd>>,
    /// Handles other sandboxes opened already, to take from.
    shared: Option<Arc<SharedHandles>>,
}

impl Granted {
    fn new(path: PathBuf, write: bool, grant: Grant) -> Granted {
        Granted { path, write, grant, handle: std::sync::OnceLock::new(), shared: None }
    }
}

/// Handles on granted directories, shared by the sandboxes of many roots
/// while nothing on the host changes (verify ahead,
/// `agent::speculate`): 500 roots granted one folder open it once, not
/// 500 times. A directory made later is opened then.
#[derive(Debug, Default)]
pub struct SharedHandles(Mutex<HashMap<PathBuf, Arc<OwnedFd>>>);

/// The directories one root may touch, and which of its grants were used.
#[derive(Debug)]
pub struct Sandbox {
    grants: Grants,
    dirs: Vec<Granted>,
    /// (component path, grant) of every grant a call used.
    used: Mutex<HashMap<String, Vec<Grant>>>,
    /// (component path, what it asked for, what to grant) of every
    /// refused call.
    denied: Mutex<Denied>,
}

/// The folders (by path) already cleared of temporary files that a
/// killed deploy left behind: each once per process (a deploy), whichever
/// roots write there. Per sandbox, 500 roots writing into one folder
/// listed it 500 times (a third of a first deploy's time).
static CLEARED: Mutex<std::collections::BTreeSet<PathBuf>> = Mutex::new(std::collections::BTreeSet::new());

/// Refused calls, for the `DENIED` lines: the first few of each component
/// as they were, the rest counted (a component refused a million times
/// must not make the runner hold and print a million lines).
#[derive(Debug, Default)]
pub struct Denied {
    list: Vec<(String, String, String)>,
    more: std::collections::BTreeMap<String, (usize, String)>,
}

/// Refusals of one component kept in full.
const DENIED_SHOWN: usize = 20;

impl Denied {
    fn push(&mut self, who: &str, what: String, advice: String) {
        if self.list.iter().filter(|(w, _, _)| w == who).count() < DENIED_SHOWN {
            self.list.push((who.to_string(), what, advice));
        } else {
            let entry = self.more.entry(who.to_string()).or_insert((0, advice));
            entry.0 += 1;
        }
    }

    /// (component, what it asked for, what to grant), with one line per
    /// component for the refusals not kept.
    fn into_list(self) -> Vec<(String, String, String)> {
        let mut list = self.list;
        for (who, (n, advice)) in self.more {
            list.push((who, format!("and {n} more refused calls like those above"), advice));
        }
        list
    }
}

/// A path matched to the granted directory it lies beneath.
struct Located<'s> {
    granted: &'s Granted,
    /// Where refusals the kernel makes are noted, with who asked.
    denied: &'s Mutex<Denied>,
    who: String,
    /// The absolute, normalised path.
    full: PathBuf,
    /// The path below the granted directory; empty for the directory itself.
    rel: PathBuf,
}

impl Sandbox {
    /// The sandbox of a root whose workdir on this host is `workdir`. A
    /// grant of `~/...` on a host without a home is an error: it must
    /// never become a grant of something wider.
    pub fn new(grants: &Grants, workdir: &Path) -> Result<Sandbox, String> {
        let on_host = |p: &str| -> Result<PathBuf, String> {
            let path = Path::new(p);
            let path = if path.starts_with("~") {
                crate::home::expand(path).map_err(|e| {
                    format!("cannot resolve the grant `{p}` of [grants.{}] in {}: {e}", grants.root, grants.file)
                })?
            } else {
                workdir.join(path)
            };
            Ok(normalize(&path))
        };
        let mut dirs = vec![Granted::new(normalize(workdir), true, Grant::Workdir(format!("work/{}", grants.root)))];
        for p in &grants.write {
            dirs.push(Granted::new(on_host(p)?, true, Grant::Write(p.clone())));
        }
        for p in &grants.read {
            dirs.push(Granted::new(on_host(p)?, false, Grant::Read(p.clone())));
        }
        Ok(Sandbox { grants: grants.clone(), dirs, used: Mutex::default(), denied: Mutex::default() })
    }

    /// The same, taking the handles of granted directories from `shared`,
    /// and putting there those it opens.
    pub fn sharing(grants: &Grants, workdir: &Path, shared: &Arc<SharedHandles>) -> Result<Sandbox, String> {
        let mut sandbox = Sandbox::new(grants, workdir)?;
        for dir in &mut sandbox.dirs {
            dir.shared = Some(shared.clone());
        }
        Ok(sandbox)
    }

    /// A sandbox that grants nothing: for components that only describe
    /// themselves or configure.
    pub fn nothing() -> Sandbox {
        Sandbox { grants: Grants::default(), dirs: Vec::new(), used: Mutex::default(), denied: Mutex::default() }
    }

    pub fn grants(&self) -> &Grants {
        &self.grants
    }

    /// Notes that `who` used `grant`.
    pub fn note_use(&self, who: &str, grant: &Grant) {
        // Called for every file operation: allocate only for what is new.
        let mut used = self.used.lock().expect("not poisoned");
        match used.get_mut(who) {
            Some(grants) if grants.contains(grant) => {}
            Some(grants) => grants.push(grant.clone()),
            None => {
                used.insert(who.to_string(), vec![grant.clone()]);
            }
        }
    }

    /// Notes that `who` was refused `what`, and returns the error for it.
    pub fn refuse(&self, who: &str, what: String, advice: String) -> SysError {
        let message = format!("{what}: {advice}");
        self.denied.lock().expect("not poisoned").push(who, what, advice);
        SysError::denied(message)
    }

    /// Every grant used so far, by component.
    pub fn used(&self) -> BTreeSet<(String, Grant)> {
        let used = self.used.lock().expect("not poisoned");
        used.iter().flat_map(|(who, grants)| grants.iter().map(move |g| (who.clone(), g.clone()))).collect()
    }

    /// Every refused call so far, by component, in order.
    pub fn take_denied(&self) -> Vec<(String, String, String)> {
        std::mem::take(&mut *self.denied.lock().expect("not poisoned")).into_list()
    }

    /// Whether `path` lies beneath a granted directory (lexically).
    pub fn covers(&self, path: &Path) -> bool {
        let path = normalize(path);
        self.dirs.iter().any(|d| path.starts_with(&d.path))
    }

    /// The granted directory `path` lies beneath, the most specific one
    /// that allows `access`.
    fn locate(&self, who: &str, path: &Path, access: Access) -> Result<Located<'_>, SysError> {
        let full = normalize(path);
        let beneath = |d: &&Granted| full.starts_with(&d.path);
        let best = self
            .dirs
            .iter()
            .filter(beneath)
            .filter(|d| access == Access::Read || d.write)
            .max_by_key(|d| d.path.components().count());
        if let Some(granted) = best {
            self.note_use(who, &granted.grant);
            let rel = full.strip_prefix(&granted.path).expect("beneath").to_path_buf();
            return Ok(Located { granted, denied: &self.denied, who: who.to_string(), full, rel });
        }
        let verb = if access == Access::Write { "change" } else { "read" };
        let what = format!("{verb} {}", full.display());
        let suggestion = full.parent().filter(|p| *p != Path::new("/")).unwrap_or(&full).display().to_string();
        let advice = if self.dirs.iter().any(|d| beneath(&d)) {
            format!("it is granted read-only; {}", self.grants.advice("paths.write", &suggestion))
        } else {
            let key = if access == Access::Write { "paths.write" } else { "paths.read" };
            format!("it is outside the granted paths; {}", self.grants.advice(key, &suggestion))
        };
        Err(self.refuse(who, what, advice))
    }

    /// Metadata of `path` (not following a final symlink), or `None`.
    pub fn stat(&self, who: &str, path: &Path) -> Result<Option<Meta>, SysError> {
        let at = self.locate(who, path, Access::Read)?;
        let root = match at.open_root(false) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            other => other.map_err(|e| io_error(&at.full, e))?,
        };
        if at.rel.as_os_str().is_empty() {
            return Ok(Some(Meta::of(&rfs::fstat(&root).map_err(|e| at.error(e))?)));
        }
        let (parent, name) = match at.parent(root) {
            Err(Errno::NOENT) | Err(Errno::NOTDIR) => return Ok(None),
            other => other.map_err(|e| at.error(e))?,
        };
        match rfs::statat(&parent, &name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(Meta::of(&st))),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(at.error(e)),
        }
    }

    /// The bytes of a regular file, at most `limit` of them.
    pub fn read(&self, who: &str, path: &Path, limit: u64) -> Result<Vec<u8>, SysError> {
        let (full, file) = self.open_file(who, path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        if size > limit {
            return Err(SysError::invalid(format!(
                "{} has {size} bytes, more than this component may hold ({limit}); compare it with `files.digest` instead",
                full.display()
            )));
        }
        let mut data = Vec::with_capacity(size as usize);
        file.take(limit).read_to_end(&mut data).map_err(|e| io_error(&full, e))?;
        Ok(data)
    }

    /// An open regular file beneath the grants, for reading.
    pub fn open_file(&self, who: &str, path: &Path) -> Result<(PathBuf, std::fs::File), SysError> {
        let at = self.locate(who, path, Access::Read)?;
        let root = at.open_root(false).map_err(|e| io_error(&at.full, e))?;
        // O_NONBLOCK: opening a FIFO must not hang the deploy.
        let flags = OFlags::RDONLY | OFlags::NOCTTY | OFlags::NONBLOCK;
        let fd = open_beneath(&root, &at.rel, flags, Mode::empty()).map_err(|e| at.error(e))?;
        let meta = Meta::of(&rfs::fstat(&fd).map_err(|e| at.error(e))?);
        at.check_plain(&meta)?;
        Ok((at.full, std::fs::File::from(fd)))
    }

    /// Writes a file so that readers see the old or the new bytes, never a
    /// mix: a temporary file beside it is renamed over it. An existing
    /// file keeps its mode, owner and group; a new one gets `new_mode`
    /// before any byte is written. A symlink is written through, if its
    /// target is granted too.
    pub fn write(&self, who: &str, path: &Path, data: &[u8], new_mode: Option<u32>) -> Result<(), SysError> {
        let mut pending = self.begin_write(who, path, new_mode)?;
        pending.append(data)?;
        pending.finish()
    }

    /// Starts replacing a file's bytes in pieces: they go to a temporary
    /// file beside it, which [`PendingWrite::finish`] renames over it. The
    /// rules are those of [`Sandbox::write`]: a symlink is written through,
    /// an existing file keeps its mode and owner, a new one gets
    /// `new_mode`.
    pub fn begin_write(&self, who: &str, path: &Path, new_mode: Option<u32>) -> Result<PendingWrite, SysError> {
        let mut target = normalize(path);
        for _ in 0..MAX_LINKS {
            let at = self.locate(who, &target, Access::Write)?;
            let root = at.open_root(true).map_err(|e| io_error(&at.full, e))?;
            if at.rel.as_os_str().is_empty() {
                return Err(SysError::invalid(format!("{} is a granted directory, not a file", at.full.display())));
            }
            let (parent, name) = at.parent(root).map_err(|e| at.error(e))?;
            let old = match rfs::statat(&parent, &name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => Some(Meta::of(&st)),
                Err(Errno::NOENT) => None,
                Err(e) => return Err(at.error(e)),
            };
            if let Some(meta) = &old {
                if meta.kind == Kind::Symlink {
                    let link = rfs::readlinkat(&parent, &name, Vec::new()).map_err(|e| at.error(e))?;
                    let link = PathBuf::from(std::ffi::OsStr::from_bytes(link.as_bytes()));
                    target = normalize(&at.full.parent().unwrap_or(Path::new("/")).join(link));
                    continue;
                }
                at.check_plain(meta)?;
            }
            let parent = match parent {
                Dir::Root(fd) => fd.try_clone_to_owned().map_err(|e| io_error(&at.full, e))?,
                Dir::Sub(fd) => fd,
            };
            return at.begin(parent, name, old.as_ref(), new_mode);
        }
        Err(SysError::invalid(format!("{}: too many levels of symbolic links", path.display())))
    }

    /// Creates a directory (and its parents, if asked); an existing
    /// directory is fine.
    pub fn mkdir(&self, who: &str, path: &Path, parents: bool) -> Result<(), SysError> {
        let at = self.locate(who, path, Access::Write)?;
        let root = at.open_root(true).map_err(|e| io_error(&at.full, e))?;
        let names: Vec<&std::ffi::OsStr> = at.rel.iter().collect();
        let first = if parents { 0 } else { names.len().saturating_sub(1) };
        for i in first..names.len() {
            let parent_rel: PathBuf = names[..i].iter().collect();
            let parent = open_beneath(&root, &parent_rel, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())
                .map_err(|e| at.error(e))?;
            match rfs::mkdirat(&parent, names[i], Mode::from_raw_mode(0o777)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(at.error(e)),
            }
        }
        // Whatever was there must be a directory now (a symlink to one
        // beneath the grants counts).
        open_beneath(&root, &at.rel, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).map_err(|e| at.error(e))?;
        Ok(())
    }

    /// Removes a file, a symlink (not its target) or a directory (with
    /// everything in it when `recursive`); a missing path is fine.
    pub fn remove(&self, who: &str, path: &Path, recursive: bool) -> Result<(), SysError> {
        let at = self.locate(who, path, Access::Write)?;
        if at.rel.as_os_str().is_empty() {
            return Err(self.refuse(
                who,
                format!("remove {}", at.full.display()),
                "it is a granted directory itself; remove what is inside it instead".into(),
            ));
        }
        let root = match at.open_root(false) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            other => other.map_err(|e| io_error(&at.full, e))?,
        };
        let (parent, name) = match at.parent(root) {
            Err(Errno::NOENT) => return Ok(()),
            other => other.map_err(|e| at.error(e))?,
        };
        let result = match rfs::statat(&parent, &name, AtFlags::SYMLINK_NOFOLLOW) {
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => Err(e),
            Ok(st) if Meta::of(&st).kind == Kind::Directory && recursive => remove_tree(&parent, &name, 0),
            Ok(st) if Meta::of(&st).kind == Kind::Directory => rfs::unlinkat(&parent, &name, AtFlags::REMOVEDIR),
            Ok(_) => rfs::unlinkat(&parent, &name, AtFlags::empty()),
        };
        result.map_err(|e| at.error(e))
    }

    /// Makes `link` a symlink to `target`, replacing a symlink that is
    /// there. The target must lie beneath the grants too: a link must not
    /// hand a path outside them to whatever reads it later.
    pub fn symlink(&self, who: &str, target: &str, link: &Path) -> Result<(), SysError> {
        let at = self.locate(who, link, Access::Write)?;
        let pointed = normalize(&at.full.parent().unwrap_or(Path::new("/")).join(target));
        if !self.covers(&pointed) {
            return Err(self.refuse(
                who,
                format!("make {} point to {}", at.full.display(), pointed.display()),
                format!(
                    "a symlink may only point beneath the granted paths; {}",
                    self.grants.advice("paths.read", &pointed.display().to_string())
                ),
            ));
        }
        if at.rel.as_os_str().is_empty() {
            return Err(SysError::invalid(format!("{} is a granted directory, not a symlink", at.full.display())));
        }
        let root = at.open_root(true).map_err(|e| io_error(&at.full, e))?;
        let (parent, name) = at.parent(root).map_err(|e| at.error(e))?;
        match rfs::statat(&parent, &name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if Meta::of(&st).kind != Kind::Symlink => {
                return Err(SysError::invalid(format!(
                    "{}: is not a symlink; remove it first (e.g. with a `purge` component) if a symlink should replace it",
                    at.full.display()
                )));
            }
            Ok(_) | Err(Errno::NOENT) => {}
            Err(e) => return Err(at.error(e)),
        }
        // Made beside and renamed over, so the link is never missing.
        let tmp = temp_name(&name);
        rfs::symlinkat(target, &parent, &tmp).map_err(|e| at.error(e))?;
        rfs::renameat(&parent, &tmp, &parent, &name).map_err(|e| {
            let _ = rfs::unlinkat(&parent, &tmp, AtFlags::empty());
            at.error(e)
        })
    }

    /// Where a symlink points.
    pub fn read_link(&self, who: &str, path: &Path) -> Result<String, SysError> {
        let at = self.locate(who, path, Access::Read)?;
        let root = at.open_root(false).map_err(|e| io_error(&at.full, e))?;
        if at.rel.as_os_str().is_empty() {
            return Err(SysError::invalid(format!("{}: not a symlink", at.full.display())));
        }
        let (parent, name) = at.parent(root).map_err(|e| at.error(e))?;
        let link = rfs::readlinkat(&parent, &name, Vec::new()).map_err(|e| at.error(e))?;
        Ok(String::from_utf8_lossy(link.as_bytes()).into_owned())
    }

    /// Sets permission bits; a symlink is left alone (Linux has no modes
    /// for links).
    pub fn set_mode(&self, who: &str, path: &Path, mode: u32) -> Result<(), SysError> {
        let (at, fd, meta) = self.open_node(who, path)?;
        if meta.kind == Kind::Symlink {
            return Ok(());
        }
        // An O_PATH handle cannot be fchmod'ed; its /proc name can, and
        // names exactly the object opened above.
        let proc = format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd());
        rfs::chmodat(rfs::CWD, proc.as_str(), Mode::from_raw_mode(mode & 0o7777), AtFlags::empty())
            .map_err(|e| at.error(e))
    }

    /// Sets owner and group (of a symlink itself, not its target).
    pub fn set_owner(&self, who: &str, path: &Path, uid: Option<u32>, gid: Option<u32>) -> Result<(), SysError> {
        let (at, fd, _) = self.open_node(who, path)?;
        let uid = uid.map(|u| rfs::Uid::from_raw(u));
        let gid = gid.map(|g| rfs::Gid::from_raw(g));
        rfs::chownat(&fd, "", uid, gid, AtFlags::EMPTY_PATH).map_err(|e| at.error(e))
    }

    /// The names in a directory, sorted.
    pub fn list(&self, who: &str, path: &Path) -> Result<Vec<String>, SysError> {
        let at = self.locate(who, path, Access::Read)?;
        let root = at.open_root(false).map_err(|e| io_error(&at.full, e))?;
        let fd =
            open_beneath(&root, &at.rel, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).map_err(|e| at.error(e))?;
        let mut names = entries(&fd).map_err(|e| at.error(e))?;
        names.sort();
        Ok(names.into_iter().map(|n| n.to_string_lossy().into_owned()).collect())
    }

    /// The paths matching a glob pattern (`*`, `?`, `[...]` per path
    /// segment; as in a shell, `*` does not match a leading dot), sorted.
    pub fn glob(&self, who: &str, pattern: &Path) -> Result<Vec<String>, SysError> {
        let full = normalize(pattern);
        let is_glob = |s: &std::ffi::OsStr| s.as_bytes().iter().any(|b| matches!(b, b'*' | b'?' | b'['));
        let literal: PathBuf = full.iter().take_while(|c| !is_glob(c)).collect();
        let at = self.locate(who, &literal, Access::Read)?;
        let root = match at.open_root(false) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            other => other.map_err(|e| io_error(&at.full, e))?,
        };
        let rest: Vec<&std::ffi::OsStr> = full.iter().skip(literal.iter().count()).collect();
        if rest.is_empty() {
            // No wildcard: the pattern names one path, which matches only
            // if something is there (a dangling symlink counts), as in a
            // shell or Python's glob.
            let there = at.rel.as_os_str().is_empty() || lexists(&root, &at.rel);
            return Ok(if there { vec![at.full.display().to_string()] } else { Vec::new() });
        }
        let options = glob::MatchOptions { require_literal_leading_dot: true, ..Default::default() };
        let mut found = vec![at.rel.clone()];
        for (i, segment) in rest.iter().enumerate() {
            let last = i + 1 == rest.len();
            let mut next = Vec::new();
            for dir in &found {
                if !is_glob(segment) {
                    next.push(dir.join(segment));
                    continue;
                }
                let text = segment.to_string_lossy();
                let pattern = glob::Pattern::new(&text)
                    .map_err(|e| SysError::invalid(format!("glob `{}`: {e}", pattern.display())))?;
                let Ok(fd) = open_beneath(&root, dir, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()) else {
                    continue;
                };
                let mut names = entries(&fd).map_err(|e| at.error(e))?;
                names.sort();
                next.extend(
                    names
                        .into_iter()
                        .filter(|n| pattern.matches_with(&n.to_string_lossy(), options))
                        .map(|n| dir.join(n)),
                );
            }
            // Only directories lead further.
            found = next
                .into_iter()
                .filter(|p| {
                    let flags = if last { OFlags::PATH } else { OFlags::PATH | OFlags::DIRECTORY };
                    open_beneath(&root, p, flags, Mode::empty()).is_ok() || (last && lexists(&root, p))
                })
                .collect();
        }
        let mut out: Vec<String> = found.iter().map(|rel| at.granted.path.join(rel).display().to_string()).collect();
        out.sort();
        Ok(out)
    }

    /// An `O_PATH` handle on `path` itself (a final symlink not followed),
    /// for changing its mode or owner.
    /// A handle on the directory `path`, reached beneath its granted
    /// directory (readable is enough), for a command to run in: a
    /// symlink or `..` leading out is refused as for every other call.
    pub fn open_cwd(&self, who: &str, path: &Path) -> Result<OwnedFd, SysError> {
        let at = self.locate(who, path, Access::Read)?;
        let root = at.open_root(false).map_err(|e| io_error(&at.full, e))?;
        open_beneath(&root, &at.rel, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).map_err(|e| at.error(e))
    }

    fn open_node(&self, who: &str, path: &Path) -> Result<(Located<'_>, Dir<'_>, Meta), SysError> {
        let at = self.locate(who, path, Access::Write)?;
        let root = at.open_root(false).map_err(|e| io_error(&at.full, e))?;
        let fd = if at.rel.as_os_str().is_empty() {
            Dir::Root(root)
        } else {
            let (parent, name) = at.parent(root).map_err(|e| at.error(e))?;
            Dir::Sub(
                rfs::openat(&parent, &name, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
                    .map_err(|e| at.error(e))?,
            )
        };
        let meta = Meta::of(&rfs::fstat(&fd).map_err(|e| at.error(e))?);
        if meta.kind != Kind::Symlink {
            at.check_links(&meta)?;
        }
        Ok((at, fd, meta))
    }
}

/// A file being replaced: its new bytes go to a temporary file beside it,
/// renamed over it by `finish`. Dropped unfinished, the temporary file is
/// removed and the file stays as it was.
pub struct PendingWrite {
    parent: OwnedFd,
    tmp: OsString,
    name: OsString,
    /// None once finished.
    file: Option<std::fs::File>,
    full: PathBuf,
}

impl PendingWrite {
    pub fn append(&mut self, data: &[u8]) -> Result<(), SysError> {
        let Some(file) = self.file.as_mut() else {
            return Err(SysError::invalid(format!("{} was already finished", self.full.display())));
        };
        file.write_all(data).map_err(|e| io_error(&self.full, e))
    }

    /// Puts the new bytes in place atomically.
    pub fn finish(&mut self) -> Result<(), SysError> {
        let Some(file) = self.file.take() else {
            return Err(SysError::invalid(format!("{} was already finished", self.full.display())));
        };
        drop(file);
        rfs::renameat(&self.parent, &self.tmp, &self.parent, &self.name).map_err(|e| {
            let _ = rfs::unlinkat(&self.parent, &self.tmp, AtFlags::empty());
            io_error(&self.full, e.into())
        })
    }
}

impl Drop for PendingWrite {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = rfs::unlinkat(&self.parent, &self.tmp, AtFlags::empty());
        }
    }
}

/// A directory handle: the granted directory's own (borrowed for the
/// root's deploy) or one opened beneath it.
enum Dir<'a> {
    Root(BorrowedFd<'a>),
    Sub(OwnedFd),
}

impl AsFd for Dir<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Dir::Root(fd) => fd.as_fd(),
            Dir::Sub(fd) => fd.as_fd(),
        }
    }
}

impl<'s> Located<'s> {
    /// A handle on the granted directory; a granted directory that does
    /// not exist yet is made when `create` (the environment named it).
    fn open_root(&self, create: bool) -> std::io::Result<BorrowedFd<'s>> {
        let granted: &'s Granted = self.granted;
        if let Some(fd) = granted.handle.get() {
            return Ok(fd.as_fd());
        }
        let known = granted
            .shared
            .as_ref()
            .and_then(|shared| shared.0.lock().unwrap_or_else(|e| e.into_inner()).get(&granted.path).cloned());
        let fd = match known {
            Some(fd) => fd,
            None => {
                let open =
                    || rfs::open(&granted.path, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty());
                let fd = match open() {
                    Err(Errno::NOENT) if create => {
                        std::fs::create_dir_all(&granted.path)?;
                        open()?
                    }
                    other => other?,
                };
                let fd = Arc::new(fd);
                if let Some(shared) = &granted.shared {
                    shared.0.lock().unwrap_or_else(|e| e.into_inner()).insert(granted.path.clone(), fd.clone());
                }
                fd
            }
        };
        // Another call may have set it meanwhile; either handle will do.
        let _ = granted.handle.set(fd);
        Ok(granted.handle.get().expect("just set").as_fd())
    }

    /// A handle on the parent of the path (beneath the grant) and the last
    /// name. The path must not be the granted directory itself.
    fn parent(&self, root: BorrowedFd<'s>) -> Result<(Dir<'s>, OsString), Errno> {
        let name = self.rel.file_name().expect("not the granted directory").to_os_string();
        let parent = self.rel.parent().unwrap_or(Path::new(""));
        if parent.as_os_str().is_empty() {
            // The granted directory itself: no walk to make.
            return Ok((Dir::Root(root), name));
        }
        let fd = open_beneath(&root, parent, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())?;
        Ok((Dir::Sub(fd), name))
    }

    /// Only regular files with one link are read or rewritten.
    fn check_plain(&self, meta: &Meta) -> Result<(), SysError> {
        match meta.kind {
            Kind::File => self.check_links(meta),
            Kind::Directory => Err(SysError::invalid(format!(
                "{} is a directory, not a file: remove it, or choose another path",
                self.full.display()
            ))),
            _ => Err(SysError::invalid(format!("{} is not a regular file", self.full.display()))),
        }
    }

    fn check_links(&self, meta: &Meta) -> Result<(), SysError> {
        if meta.kind != Kind::Directory && meta.links > 1 {
            let why = format!(
                "it has {} hard links: another name of it may lie outside the granted paths, so it is not read or changed in place; remove it and let the component create it again",
                meta.links
            );
            self.denied.lock().expect("not poisoned").push(
                &self.who,
                format!("reach {}", self.full.display()),
                why.clone(),
            );
            return Err(SysError::denied(format!("{}: {why}", self.full.display())));
        }
        Ok(())
    }

    /// Writes a new file beside `name` in `parent` and renames it over.
    /// Creates the temporary file that will replace `name` in `parent`,
    /// with the mode and owner the file will have.
    fn begin(
        &self,
        parent: OwnedFd,
        name: OsString,
        old: Option<&Meta>,
        new_mode: Option<u32>,
    ) -> Result<PendingWrite, SysError> {
        let mode = old.map(|m| m.mode).or(new_mode.map(|m| m & 0o7777));
        self.clear_stale_temporaries(&parent);
        let tmp = temp_name(&name);
        // Never more open than wanted, even before the umask is undone.
        let create_mode = mode.map(|m| m & 0o700).unwrap_or(0o666);
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rfs::openat(&parent, &tmp, flags, Mode::from_raw_mode(create_mode)).map_err(|e| self.error(e))?;
        let file = std::fs::File::from(fd);
        let pending = PendingWrite { parent, tmp, name, file: Some(file), full: self.full.clone() };
        let prepared = (|| -> std::io::Result<()> {
            let file = pending.file.as_ref().expect("just opened");
            if let Some(mode) = mode {
                rfs::fchmod(file, Mode::from_raw_mode(mode))?;
            }
            if let Some(old) = old {
                let owner = (rfs::Uid::from_raw(old.uid), rfs::Gid::from_raw(old.gid));
                if let Err(e) = rfs::fchown(file, Some(owner.0), Some(owner.1)) {
                    tracing::debug!(path = %self.full.display(), error = %e, "cannot keep the owner of a rewritten file");
                }
            }
            Ok(())
        })();
        // On an error, dropping `pending` removes the temporary file.
        prepared.map_err(|e| io_error(&self.full, e))?;
        Ok(pending)
    }

    /// Removes, once per folder and deploy, the temporary files a deploy
    /// that was killed mid-write left there (`.NAME.batou-tmp.PID.N` of a
    /// process that no longer runs): the next deploy of a file cleans up.
    fn clear_stale_temporaries(&self, parent: &impl AsFd) {
        // By the folder's path, not its inode: no system call to learn it.
        // A folder seen by two paths is looked at twice, one replaced
        // under the same path not at all; either only keeps or clears
        // leftovers a little longer.
        let folder = self.full.parent().unwrap_or(Path::new("/"));
        let mut cleared = CLEARED.lock().unwrap_or_else(|e| e.into_inner());
        if cleared.contains(folder) {
            return;
        }
        cleared.insert(folder.to_path_buf());
        drop(cleared);
        // The parent may be an O_PATH handle, which cannot be listed.
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let Ok(listing) = rfs::openat(parent, ".", flags, Mode::empty()) else { return };
        for name in entries(&listing).unwrap_or_default() {
            let Some(pid) = stale_temporary(&name) else { continue };
            // SAFETY: signal 0 only asks whether the process exists; EPERM
            // means it does (another user's), only ESRCH that it is gone.
            let gone = pid != std::process::id()
                && unsafe { libc::kill(pid as libc::pid_t, 0) } != 0
                && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
            if gone {
                let _ = rfs::unlinkat(parent, &name, AtFlags::empty());
            }
        }
    }

    /// An error of a call on this path, in the operator's words.
    fn error(&self, e: Errno) -> SysError {
        let refused = |why: String| {
            let what = format!("reach {}", self.full.display());
            self.denied.lock().expect("not poisoned").push(&self.who, what, why.clone());
            SysError::denied(format!("{}: {why}", self.full.display()))
        };
        match e {
            Errno::XDEV => refused(format!(
                "it leads outside {} (through `..` or a symlink), which the sandbox does not follow",
                self.granted.path.display()
            )),
            Errno::LOOP => refused("a symlink loop, or a /proc magic link, which the sandbox does not follow".into()),
            Errno::NOSYS => SysError::not_implemented(
                "this kernel has no openat2 (Linux 5.6 or later is needed for the path sandbox)".to_string(),
            ),
            e => io_error(&self.full, e.into()),
        }
    }
}

/// Whether this kernel lacks `openat2` (before Linux 5.6: Ubuntu 20.04,
/// RHEL 8), found at the first call; `BATOU_RUN_SANDBOX_WALK=1` says so
/// from the start, for the tests that run the sandbox both ways.
static NO_OPENAT2: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static WALK_CHECKED: std::sync::Once = std::sync::Once::new();

/// `openat2` beneath `root`, retried when a concurrent rename made the
/// kernel give up (EAGAIN); on a kernel without it, [`walk_beneath`].
fn open_beneath(root: &impl AsFd, rel: &Path, flags: OFlags, mode: Mode) -> Result<OwnedFd, Errno> {
    WALK_CHECKED.call_once(|| {
        if std::env::var_os("BATOU_RUN_SANDBOX_WALK").is_some_and(|v| v == "1") {
            NO_OPENAT2.store(true, Ordering::Relaxed);
        }
    });
    if NO_OPENAT2.load(Ordering::Relaxed) || walk_forced_here() {
        return walk_beneath(root, rel, flags, mode);
    }
    let rel = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
    let mut tries = 0;
    loop {
        match rfs::openat2(root, rel, flags | OFlags::CLOEXEC, mode, BENEATH) {
            Err(Errno::AGAIN) if tries < 16 => tries += 1,
            Err(Errno::NOSYS) => {
                NO_OPENAT2.store(true, Ordering::Relaxed);
                tracing::debug!("no openat2 on this kernel: the path sandbox walks each path component");
                return walk_beneath(root, rel, flags, mode);
            }
            other => return other,
        }
    }
}

/// procfs's `f_type`.
const PROC_SUPER_MAGIC: u64 = 0x9fa0;

fn is_symlink(dir: &impl AsFd, name: &OsString) -> bool {
    rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
        .is_ok_and(|st| rfs::FileType::from_raw_mode(st.st_mode).is_symlink())
}

/// Whether this thread's sandbox walks as on a kernel without openat2
/// (tests only).
#[cfg(test)]
fn walk_forced_here() -> bool {
    tests::walk_here()
}
#[cfg(not(test))]
fn walk_forced_here() -> bool {
    false
}

/// What `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)` does, for a
/// kernel without it: one `openat(O_NOFOLLOW)` per path component, each
/// on the handle of the directory before it, never opening `..` (the
/// walk keeps its own stack of handles, so a `..` goes back to a handle
/// it holds, and one above `root` is EXDEV) and never letting the kernel
/// follow a symlink: a symlink's text is read and walked the same way (an
/// absolute one is EXDEV, as openat2 has it, which also keeps /proc's
/// magic links out; more than 40 is ELOOP). A symlink swapped in between
/// two steps is met by the next `openat(O_NOFOLLOW)`, which refuses it.
fn walk_beneath(root: &impl AsFd, rel: &Path, flags: OFlags, mode: Mode) -> Result<OwnedFd, Errno> {
    use std::collections::VecDeque;
    if rel.is_absolute() {
        return Err(Errno::XDEV);
    }
    let dir_flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut stack: Vec<OwnedFd> = vec![rfs::openat(root, ".", dir_flags, Mode::empty())?];
    // Split by hand: `Path::iter` drops a `.` or an empty name inside a
    // path, while `file/.` and `file/` must be directories.
    let names = |path: &[u8]| -> Vec<OsString> {
        path.split(|b| *b == b'/').map(|n| OsString::from(std::ffi::OsStr::from_bytes(n))).collect()
    };
    let mut pending: VecDeque<OsString> = names(rel.as_os_str().as_bytes()).into();
    let mut links = 0;
    let follow_last = !flags.contains(OFlags::NOFOLLOW);
    // Puts the target of symlink `dir`/`name` in front of what is left to
    // walk. Links in /proc are refused as openat2 refuses its magic links
    // (`root`, `cwd`, `fd/N` name no path to walk): ELOOP.
    let mut splice = |dir: &OwnedFd, name: &OsString, pending: &mut VecDeque<OsString>| -> Result<(), Errno> {
        if rfs::fstatfs(dir)?.f_type as u64 == PROC_SUPER_MAGIC {
            return Err(Errno::LOOP);
        }
        let target = rfs::readlinkat(dir, name, Vec::new())?.into_bytes();
        links += 1;
        if links > MAX_LINKS {
            return Err(Errno::LOOP);
        }
        if target.starts_with(b"/") {
            return Err(Errno::XDEV);
        }
        for part in names(&target).into_iter().rev() {
            pending.push_front(part);
        }
        Ok(())
    };
    while let Some(name) = pending.pop_front() {
        let top = stack.last().expect("the root is never popped");
        if name == "." || name.is_empty() {
            continue;
        }
        if name == ".." {
            if stack.len() == 1 {
                return Err(Errno::XDEV);
            }
            stack.pop();
            continue;
        }
        if !pending.is_empty() {
            match rfs::openat(top, &name, dir_flags, Mode::empty()) {
                Ok(fd) => stack.push(fd),
                // O_PATH | O_NOFOLLOW | O_DIRECTORY on a symlink: ENOTDIR.
                Err(Errno::NOTDIR) if is_symlink(top, &name) => splice(top, &name, &mut pending)?,
                Err(e) => return Err(e),
            }
            continue;
        }
        // The last name: a symlink is followed (walked) unless the caller
        // asked for O_NOFOLLOW; what is opened is never followed by the
        // kernel (a link swapped in after the readlink is ELOOP).
        if follow_last && is_symlink(top, &name) {
            splice(top, &name, &mut pending)?;
            continue;
        }
        return rfs::openat(top, &name, flags | OFlags::NOFOLLOW | OFlags::CLOEXEC, mode);
    }
    // The path ended in a directory (`.`, `..`, a symlink to one, or none).
    let top = stack.last().expect("the root is never popped");
    rfs::openat(top, ".", (flags - OFlags::NOFOLLOW) | OFlags::CLOEXEC, mode)
}

fn lexists(root: &impl AsFd, rel: &Path) -> bool {
    let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else { return false };
    open_beneath(root, parent, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())
        .and_then(|p| rfs::statat(&p, name, AtFlags::SYMLINK_NOFOLLOW))
        .is_ok()
}

/// The names in an open directory, without `.` and `..`.
fn entries(fd: &impl AsFd) -> Result<Vec<OsString>, Errno> {
    let mut names = Vec::new();
    for entry in rfs::Dir::read_from(fd)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsString::from(std::ffi::OsStr::from_bytes(name)));
        }
    }
    Ok(names)
}

/// Removes the directory `name` in `parent` and everything in it, never
/// following a symlink.
fn remove_tree(parent: &impl AsFd, name: &std::ffi::OsStr, depth: usize) -> Result<(), Errno> {
    if depth > 4096 {
        return Err(Errno::LOOP);
    }
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let dir = rfs::openat(parent, name, flags, Mode::empty())?;
    for entry in entries(&dir)? {
        let st = rfs::statat(&dir, &entry, AtFlags::SYMLINK_NOFOLLOW)?;
        if Meta::of(&st).kind == Kind::Directory {
            remove_tree(&dir, &entry, depth + 1)?;
        } else {
            rfs::unlinkat(&dir, &entry, AtFlags::empty())?;
        }
    }
    rfs::unlinkat(parent, name, AtFlags::REMOVEDIR)
}

/// The process id in a temporary file's name (`.NAME.batou-tmp.PID.N`).
fn stale_temporary(name: &std::ffi::OsStr) -> Option<u32> {
    let name = name.to_str()?;
    if !name.starts_with('.') {
        return None;
    }
    let (_, tail) = name.rsplit_once(".batou-tmp.")?;
    let (pid, n) = tail.split_once('.')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

fn temp_name(name: &std::ffi::OsStr) -> OsString {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut tmp = OsString::from(".");
    tmp.push(name);
    // The process id, asked once (it is a system call each time).
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    tmp.push(format!(".batou-tmp.{}.{n}", PID.get_or_init(std::process::id)));
    tmp
}

/// An absolute path without `.`, `..` or doubled slashes, worked out from
/// the text alone (a `..` above `/` stays at `/`).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::Normal(c) => out.push(c),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Reads `name` beneath `dir`, refusing absolute names, `..` and symlinks
/// that lead out: for asset folders.
/// At most `limit` bytes (a component's memory_limit): a larger asset is
/// refused before it is read, so a huge or sparse file cannot take the
/// runner's memory.
/// Opens the asset `name` beneath the asset folder `dir`, refusing a
/// name or a symlink that leads out of it.
pub fn open_beneath_file(dir: &Path, name: &str) -> Result<std::fs::File, SysError> {
    let rel = Path::new(name);
    let full = dir.join(rel);
    if rel.is_absolute() || rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(SysError::denied(format!(
            "asset `{name}`: asset names are relative paths inside the component's folder, without `..`"
        )));
    }
    let root = rfs::open(dir, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| io_error(dir, e.into()))?;
    let fd = open_beneath(&root, rel, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty()).map_err(|e| match e {
        Errno::XDEV | Errno::LOOP => {
            SysError::denied(format!("asset `{name}` leads outside the component's folder through a symlink"))
        }
        e => io_error(&full, e.into()),
    })?;
    Ok(std::fs::File::from(fd))
}

/// Reads the asset `name` whole, up to `limit` bytes.
pub fn read_beneath(dir: &Path, name: &str, limit: usize) -> Result<Vec<u8>, SysError> {
    let full = dir.join(name);
    let file = open_beneath_file(dir, name)?;
    let size = file.metadata().map_err(|e| io_error(&full, e))?.len();
    if size > limit as u64 {
        return Err(SysError::invalid(format!(
            "asset `{name}` is {} MiB, more than the component's memory_limit of {} MiB; read it in pieces or raise the limit",
            size >> 20,
            limit >> 20
        )));
    }
    let mut data = Vec::new();
    file.take(limit as u64 + 1).read_to_end(&mut data).map_err(|e| io_error(&full, e))?;
    if data.len() > limit {
        return Err(SysError::invalid(format!("asset `{name}` grew over the component's memory_limit while read")));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A granted workdir with files, a subfolder and symlinks that lead
    /// out (relative, absolute, through a subfolder) or loop, beside an
    /// `outside` folder holding a secret.
    fn tree() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let root = tempfile::tempdir().unwrap();
        let work = root.path().join("grant");
        let outside = root.path().join("outside");
        std::fs::create_dir_all(work.join("sub")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(work.join("file"), "inside").unwrap();
        std::fs::write(work.join("sub/b"), "inside").unwrap();
        std::fs::write(outside.join("secret"), "SECRET").unwrap();
        std::os::unix::fs::symlink("../outside", work.join("out")).unwrap();
        std::os::unix::fs::symlink(&outside, work.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../outside/secret", work.join("sub/deep")).unwrap();
        std::os::unix::fs::symlink("loop", work.join("loop")).unwrap();
        std::os::unix::fs::symlink("/proc/self/root", work.join("proc")).unwrap();
        (root, work, outside)
    }

    fn segment() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "..", ".", "", "file", "sub", "b", "deep", "out", "abs", "loop", "proc", "secret", "outside", "grant",
            "new",
        ])
    }

    fn outside_is_intact(outside: &Path) -> bool {
        let names: Vec<_> = std::fs::read_dir(outside).unwrap().flatten().map(|e| e.file_name()).collect();
        let meta = std::fs::metadata(outside.join("secret")).unwrap();
        names == ["secret"]
            && std::fs::read(outside.join("secret")).unwrap() == b"SECRET"
            && std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777 == 0o644
    }

    thread_local! {
        /// This thread's sandbox walks as on a kernel without openat2.
        static WALK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    pub(super) fn walk_here() -> bool {
        WALK.with(|w| w.get())
    }

    /// What identifies an opened file: device and inode.
    fn identity(fd: &OwnedFd) -> (u64, u64) {
        let st = rfs::fstat(fd).unwrap();
        (st.st_dev, st.st_ino)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// The walk for kernels without openat2 opens what openat2 opens,
        /// and nothing openat2 refuses.
        #[test]
        fn the_walk_opens_exactly_what_openat2_opens(
            segments in prop::collection::vec(segment(), 0..7),
            flags in prop::sample::select(vec![
                OFlags::RDONLY,
                OFlags::PATH,
                OFlags::PATH | OFlags::NOFOLLOW,
                OFlags::PATH | OFlags::DIRECTORY,
                OFlags::RDONLY | OFlags::DIRECTORY,
            ]),
        ) {
            let (_root, work, _outside) = tree();
            std::os::unix::fs::symlink("sub/b", work.join("to-b")).unwrap();
            std::os::unix::fs::symlink("sub/..", work.join("up-and-back")).unwrap();
            std::os::unix::fs::symlink(".", work.join("sub/here")).unwrap();
            let root = rfs::open(&work, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
            let rel = PathBuf::from(segments.join("/"));
            let rel = if rel.as_os_str().is_empty() { PathBuf::from(".") } else { rel };
            let kernel = rfs::openat2(&root, &rel, flags | OFlags::CLOEXEC, Mode::empty(), BENEATH);
            let walked = walk_beneath(&root, &rel, flags, Mode::empty());
            match (&kernel, &walked) {
                (Ok(k), Ok(w)) => prop_assert_eq!(identity(k), identity(w), "{}", rel.display()),
                (Err(_), Err(_)) => {}
                _ => prop_assert!(false, "{}: openat2 {:?}, the walk {:?}", rel.display(), kernel.as_ref().map(|_| ()), walked.as_ref().map(|_| ())),
            }
        }

        /// The sandbox's promises hold on the walk too.
        #[test]
        fn no_path_reaches_outside_the_grant_on_a_kernel_without_openat2(
            segments in prop::collection::vec(segment(), 1..7),
            absolute in any::<bool>(),
            link_to in prop::collection::vec(segment(), 0..4),
        ) {
            WALK.with(|w| w.set(true));
            let result = reaches_outside(segments, absolute, link_to);
            WALK.with(|w| w.set(false));
            result?;
        }

        /// Whatever path a component names, relative or absolute, nothing
        /// outside its grant is read, listed, written, chmodded or removed.
        #[test]
        fn no_path_reaches_outside_the_grant(
            segments in prop::collection::vec(segment(), 1..7),
            absolute in any::<bool>(),
            link_to in prop::collection::vec(segment(), 0..4),
        ) {
            reaches_outside(segments, absolute, link_to)?;
        }

        /// Normalising gives an absolute path without `.` or `..`.
        #[test]
        fn normalized_paths_are_plain(text in "[a-z./]{0,40}") {
            let n = normalize(Path::new(&text));
            prop_assert!(n.is_absolute());
            prop_assert!(n.components().all(|c| matches!(c, Component::RootDir | Component::Normal(_))));
        }
    }

    /// Tries to read, list, write, chmod, link and remove outside the
    /// grant through `segments`; fails if anything outside changed.
    fn reaches_outside(
        segments: Vec<&'static str>,
        absolute: bool,
        link_to: Vec<&'static str>,
    ) -> Result<(), TestCaseError> {
        let (root, work, outside) = tree();
        std::fs::set_permissions(outside.join("secret"), std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        let rel = segments.join("/");
        let path = if absolute { root.path().join(&rel) } else { work.join(&rel) };
        let sandbox = Sandbox::new(&Grants::none("fuzz", "environments/dev.toml"), &work).unwrap();
        if let Ok(data) = sandbox.read("fuzz", &path, 1 << 20) {
            prop_assert_ne!(data, b"SECRET".to_vec(), "read the secret through {}", rel);
        }
        if let Ok(names) = sandbox.list("fuzz", &path) {
            prop_assert!(!names.contains(&"secret".to_string()), "listed the secret through {}", rel);
        }
        if let Ok(found) = sandbox.glob("fuzz", &path.join("*")) {
            prop_assert!(!found.iter().any(|f| f.ends_with("/secret")), "globbed the secret through {}", rel);
        }
        let _ = sandbox.write("fuzz", &path, b"escaped", Some(0o666));
        let _ = sandbox.set_mode("fuzz", &path, 0o777);
        let _ = sandbox.symlink("fuzz", &link_to.join("/"), &path.join("made"));
        let _ = sandbox.mkdir("fuzz", &path.join("made-dir"), true);
        prop_assert!(outside_is_intact(&outside), "changed outside through {}", rel);
        let _ = sandbox.remove("fuzz", &path, true);
        prop_assert!(outside_is_intact(&outside), "removed outside through {}", rel);
        Ok(())
    }

    #[test]
    fn a_glob_without_wildcards_matches_only_what_exists() {
        let (_root, work, _outside) = tree();
        let sandbox = Sandbox::new(&Grants::none("glob", "environments/dev.toml"), &work).unwrap();
        let glob = |p: &str| sandbox.glob("glob", &work.join(p)).unwrap();
        assert_eq!(glob("file"), [work.join("file").display().to_string()]);
        assert_eq!(glob("sub/b"), [work.join("sub/b").display().to_string()]);
        assert!(glob("never-there").is_empty());
        assert!(glob("sub/never-there").is_empty());
        assert!(glob("never/there").is_empty());
        assert_eq!(glob("loop"), [work.join("loop").display().to_string()], "a dangling symlink is there");
        assert_eq!(glob(""), [work.display().to_string()], "the granted directory itself");
        assert!(glob("*/never-there").is_empty());
    }

    #[test]
    fn normalizes_lexically() {
        assert_eq!(normalize(Path::new("/a/./b//c/../d")), PathBuf::from("/a/b/d"));
        assert_eq!(normalize(Path::new("/../../etc/passwd")), PathBuf::from("/etc/passwd"));
        assert_eq!(normalize(Path::new("/srv/app/../../etc")), PathBuf::from("/etc"));
    }
}
