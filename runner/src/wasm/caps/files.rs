//! `files`: the target's file system, as the component's phase and its
//! root's path grants allow (see [`crate::system::sandbox`]).

use std::io::{Read, Seek, SeekFrom};

use sha2::{Digest, Sha256};
use wasmtime::component::Resource;

use crate::system::error::io_error;
use crate::system::sandbox::{Kind, Meta, PendingWrite};
use crate::system::{SysError, users};
use crate::wasm::CapError;
use crate::wasm::bindings::batou::deploy::files;
use crate::wasm::bindings::{FileKind, FileStat};
use crate::wasm::state::{Phase, StoreData};

/// The largest piece `read-at` returns: more could never be held by the
/// component at once anyway.
const MAX_PIECE: u32 = 16 << 20;

/// A `files.writer`: a file being written in pieces.
pub struct Writer {
    pending: PendingWrite,
}

const READ: &[Phase] = &[Phase::Verify, Phase::Update];
const WRITE: &[Phase] = &[Phase::Update];

impl files::Host for StoreData {
    fn stat(&mut self, path: String) -> Result<Option<FileStat>, CapError> {
        self.call.allow("files.stat", READ)?;
        let p = self.call.resolve(&path);
        Ok(self.call.sandbox.stat(&self.call.path, &p)?.map(|m| stat_of(&m)))
    }

    fn read(&mut self, path: String) -> Result<Vec<u8>, CapError> {
        self.call.allow("files.read", READ)?;
        let p = self.call.resolve(&path);
        // More than the component's memory could never reach it.
        Ok(self.call.sandbox.read(&self.call.path, &p, self.memory_limit as u64)?)
    }

    fn digest(&mut self, path: String) -> Result<Option<String>, CapError> {
        self.call.allow("files.digest", READ)?;
        let p = self.call.resolve(&path);
        let mut file = match self.call.sandbox.open_file(&self.call.path, &p) {
            Ok((_, file)) => file,
            Err(SysError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        // One buffer per thread: zeroing a new one per digest (on the
        // heap, or even on the stack) cost more than hashing a small file.
        thread_local! {
            static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; 16 << 10]);
        }
        let mut hasher = Sha256::new();
        BUF.with_borrow_mut(|buf| {
            loop {
                let n = std::io::Read::read(&mut file, buf).map_err(|e| io_error(&p, e))?;
                hasher.update(&buf[..n]);
                // `open_file` gives a regular file, whose read comes back
                // short only at its end: no read is spent to hear 0.
                if n < buf.len() {
                    return Ok::<(), CapError>(());
                }
            }
        })?;
        Ok(Some(hex(&hasher.finalize())))
    }

    fn read_at(&mut self, path: String, offset: u64, length: u32) -> Result<Vec<u8>, CapError> {
        self.call.allow("files.read-at", READ)?;
        let p = self.call.resolve(&path);
        let length = length.min(MAX_PIECE).min(self.memory_limit as u32);
        let (_, mut file) = self.call.sandbox.open_file(&self.call.path, &p)?;
        file.seek(SeekFrom::Start(offset)).map_err(|e| io_error(&p, e))?;
        let mut piece = Vec::with_capacity(length as usize);
        file.take(length as u64).read_to_end(&mut piece).map_err(|e| io_error(&p, e))?;
        Ok(piece)
    }

    fn create_writer(&mut self, path: String, mode: Option<u32>) -> Result<Resource<Writer>, CapError> {
        self.call.allow("files.create-writer", WRITE)?;
        let p = self.call.resolve(&path);
        let pending = self.call.sandbox.begin_write(&self.call.path, &p, mode)?;
        self.table.push(Writer { pending }).map_err(CapError::bug)
    }

    fn write(&mut self, path: String, data: Vec<u8>, mode: Option<u32>) -> Result<(), CapError> {
        self.call.allow("files.write", WRITE)?;
        let p = self.call.resolve(&path);
        Ok(self.call.sandbox.write(&self.call.path, &p, &data, mode)?)
    }

    fn mkdir(&mut self, path: String, parents: bool) -> Result<(), CapError> {
        self.call.allow("files.mkdir", WRITE)?;
        let p = self.call.resolve(&path);
        Ok(self.call.sandbox.mkdir(&self.call.path, &p, parents)?)
    }

    fn remove(&mut self, path: String, recursive: bool) -> Result<(), CapError> {
        self.call.allow("files.remove", WRITE)?;
        let p = self.call.resolve(&path);
        Ok(self.call.sandbox.remove(&self.call.path, &p, recursive)?)
    }

    fn symlink(&mut self, target: String, link: String) -> Result<(), CapError> {
        self.call.allow("files.symlink", WRITE)?;
        let p = self.call.resolve(&link);
        Ok(self.call.sandbox.symlink(&self.call.path, &target, &p)?)
    }

    fn read_link(&mut self, path: String) -> Result<String, CapError> {
        self.call.allow("files.read-link", READ)?;
        let p = self.call.resolve(&path);
        Ok(self.call.sandbox.read_link(&self.call.path, &p)?)
    }

    fn set_mode(&mut self, path: String, mode: u32) -> Result<(), CapError> {
        self.call.allow("files.set-mode", WRITE)?;
        let p = self.call.resolve(&path);
        Ok(self.call.sandbox.set_mode(&self.call.path, &p, mode)?)
    }

    fn set_owner(&mut self, path: String, owner: Option<String>, group: Option<String>) -> Result<(), CapError> {
        self.call.allow("files.set-owner", WRITE)?;
        let p = self.call.resolve(&path);
        let uid = owner
            .map(|name| {
                users::uid_of(&name).ok_or_else(|| CapError::not_found(format!("no user `{name}` on this host")))
            })
            .transpose()?;
        let gid = group
            .map(|name| {
                users::gid_of(&name).ok_or_else(|| CapError::not_found(format!("no group `{name}` on this host")))
            })
            .transpose()?;
        Ok(self.call.sandbox.set_owner(&self.call.path, &p, uid, gid)?)
    }

    fn list(&mut self, path: String) -> Result<Vec<String>, CapError> {
        self.call.allow("files.list", READ)?;
        let p = self.call.resolve(&path);
        Ok(self.call.sandbox.list(&self.call.path, &p)?)
    }

    fn glob(&mut self, pattern: String) -> Result<Vec<String>, CapError> {
        self.call.allow("files.glob", READ)?;
        let full = self.call.resolve(&pattern);
        Ok(self.call.sandbox.glob(&self.call.path, &full)?)
    }

    fn resolve(&mut self, path: String) -> Result<String, CapError> {
        self.call.allow("files.resolve", READ)?;
        Ok(crate::system::sandbox::normalize(&self.call.resolve(&path)).display().to_string())
    }
}

fn stat_of(m: &Meta) -> FileStat {
    let kind = match m.kind {
        Kind::Symlink => FileKind::Symlink,
        Kind::Directory => FileKind::Directory,
        Kind::File => FileKind::File,
        Kind::Other => FileKind::Other,
    };
    FileStat {
        kind,
        size: m.size,
        mode: m.mode,
        uid: m.uid,
        gid: m.gid,
        owner: users::user_name(m.uid),
        group: users::group_name(m.gid),
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        text.push(DIGITS[usize::from(b >> 4)] as char);
        text.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    text
}

impl files::HostWriter for StoreData {
    fn append(&mut self, writer: Resource<Writer>, data: Vec<u8>) -> Result<(), CapError> {
        self.call.allow("files.writer.append", WRITE)?;
        let writer = self.table.get_mut(&writer).map_err(CapError::bug)?;
        Ok(writer.pending.append(&data)?)
    }

    fn finish(&mut self, writer: Resource<Writer>) -> Result<(), CapError> {
        self.call.allow("files.writer.finish", WRITE)?;
        let writer = self.table.get_mut(&writer).map_err(CapError::bug)?;
        Ok(writer.pending.finish()?)
    }

    fn drop(&mut self, writer: Resource<Writer>) -> wasmtime::Result<()> {
        // Unfinished, its temporary file goes with it.
        self.table.delete(writer)?;
        Ok(())
    }
}
