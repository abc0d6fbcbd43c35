//! An exec channel as the blocking `Read` + `Write` that the agent session
//! wants. A task on the target's runtime pumps the channel: its data goes
//! to the reader through a queue, its stderr to ours (each line prefixed
//! with the host), its exit status into a slot. Writes block on the
//! runtime until the channel's window takes them.

use std::io::{self, Read, Write};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use russh::ChannelMsg;
use russh::client::Msg;
use russh::{ChannelReadHalf, ChannelWriteHalf};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

/// How the remote command ended, as far as the channel said.
#[derive(Debug, Default, Clone)]
pub struct Exit {
    pub status: Option<u32>,
    pub signal: Option<String>,
}

pub struct Reader {
    rx: mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for Reader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.buf = chunk;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// What came of waiting for a line.
pub enum Line {
    Line(String),
    /// The output ended (what came after the last newline, if anything).
    End(String),
    /// Nothing more came in time (what came since the last newline).
    TimedOut(String),
}

impl Reader {
    /// One line of the remote's output (without its newline), waiting for
    /// each piece of it until `deadline` at most.
    pub fn line_before(&mut self, deadline: std::time::Instant) -> Line {
        let mut line = Vec::new();
        loop {
            if self.pos == self.buf.len() {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                match self.rx.recv_timeout(left) {
                    Ok(chunk) => {
                        self.buf = chunk;
                        self.pos = 0;
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        return Line::TimedOut(String::from_utf8_lossy(&line).into_owned());
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        return Line::End(String::from_utf8_lossy(&line).into_owned());
                    }
                }
            }
            let rest = &self.buf[self.pos..];
            match rest.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    line.extend_from_slice(&rest[..i]);
                    self.pos += i + 1;
                    return Line::Line(String::from_utf8_lossy(&line).into_owned());
                }
                None => {
                    line.extend_from_slice(rest);
                    self.pos = self.buf.len();
                }
            }
        }
    }
}

pub struct Writer {
    handle: Handle,
    half: Option<ChannelWriteHalf<Msg>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 256 << 10;

impl Writer {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let data = std::mem::take(&mut self.buf);
        let Some(half) = &self.half else { return Err(io::ErrorKind::BrokenPipe.into()) };
        self.handle
            .block_on(half.data_bytes(data))
            .map_err(|e| io::Error::new(io::ErrorKind::BrokenPipe, format!("the SSH channel is closed: {e}")))
    }

    /// Flushes and tells the remote its input ended.
    pub fn close(&mut self) {
        let _ = self.send();
        if let Some(half) = self.half.take() {
            let _ = self.handle.block_on(half.eof());
        }
    }
}

impl Write for Writer {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.close();
    }
}

/// Splits `channel` into a reader, a writer and the pump task, which ends
/// (with how the command exited) when the channel closes.
pub fn bridge(
    handle: &Handle,
    host: &str,
    read: ChannelReadHalf,
    write: ChannelWriteHalf<Msg>,
) -> (Reader, Writer, JoinHandle<Exit>) {
    let (tx, rx) = mpsc::channel();
    let exit = Arc::new(Mutex::new(Exit::default()));
    let prefix = format!("{host}: ");
    let task = handle.spawn(pump(read, tx, prefix, exit));
    (
        Reader { rx, buf: Vec::new(), pos: 0 },
        Writer { handle: handle.clone(), half: Some(write), buf: Vec::new() },
        task,
    )
}

async fn pump(mut read: ChannelReadHalf, tx: mpsc::Sender<Vec<u8>>, prefix: String, exit: Arc<Mutex<Exit>>) -> Exit {
    let mut line = Vec::new();
    while let Some(message) = read.wait().await {
        match message {
            ChannelMsg::Data { data } => {
                let _ = tx.send(data.to_vec());
            }
            ChannelMsg::ExtendedData { data, .. } => {
                for &b in data.iter() {
                    line.push(b);
                    if b == b'\n' {
                        eprint!("{prefix}{}", crate::output::shown(&String::from_utf8_lossy(&line)));
                        line.clear();
                    }
                }
            }
            ChannelMsg::ExitStatus { exit_status } => exit.lock().unwrap().status = Some(exit_status),
            ChannelMsg::ExitSignal { signal_name, .. } => {
                exit.lock().unwrap().signal = Some(format!("{signal_name:?}"))
            }
            _ => {}
        }
    }
    if !line.is_empty() {
        eprintln!("{prefix}{}", crate::output::shown(&String::from_utf8_lossy(&line)));
    }
    exit.lock().unwrap().clone()
}
