//! The `ssh` capability over the deploy's own connections: one exec
//! channel per command, on the connection to the named host.

use std::time::Duration;

use russh::ChannelMsg;

use super::SshHosts;
use crate::plan::grants::Grants;
use crate::plan::program::{Program, ProgramOutput, RemoteError};
use crate::system::remote::{self, REMOTE_OUTPUT_LIMIT, RemoteCommands};

/// A command without its own timeout gets this long.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);

impl RemoteCommands for SshHosts {
    fn run(&self, grants: &Grants, host: &str, cmd: &Program) -> Result<ProgramOutput, RemoteError> {
        remote::check(grants, host, cmd)?;
        let failed = |why: String| RemoteError::Failed(format!("cannot run `{}` on host `{host}`: {why}", cmd.program));
        let route = self.route(host).map_err(failed)?;
        let timeout = cmd.timeout_ms.map(|ms| Duration::from_millis(ms.into())).unwrap_or(DEFAULT_TIMEOUT);
        // Closing the channel does not end a command on the host (it has
        // no terminal to hang up): where the host has `timeout`, it ends
        // the command and what it started (its process group) itself.
        let secs = timeout.as_secs_f64().ceil().max(1.0) as u64;
        let line = format!(
            "t=; if command -v timeout >/dev/null 2>&1; then t='timeout -s KILL {secs}'; fi; {}{}",
            remote::cwd_check(grants, cmd),
            // The check enters the working directory it resolved.
            remote::shell_line_with(&Program { cwd: None, ..cmd.clone() }, route.service_user.as_deref(), Some("$t"))
        );
        // A little longer here, so that the host's timeout speaks first.
        let timeout = timeout + Duration::from_secs(2);
        let channel = self.channel(host).map_err(failed)?;
        tracing::debug!(host = %host, command = %line, "ssh.run");
        let run = async move {
            let mut channel = channel;
            channel.exec(true, line).await?;
            if let Some(stdin) = &cmd.stdin {
                channel.data(&stdin[..]).await?;
            }
            channel.eof().await?;
            let mut out = ProgramOutput { status: -1, stdout: Vec::new(), stderr: Vec::new() };
            let mut signalled = None;
            while let Some(message) = channel.wait().await {
                match message {
                    ChannelMsg::Data { data } => keep(&mut out.stdout, &data),
                    ChannelMsg::ExtendedData { data, ext: 1 } => keep(&mut out.stderr, &data),
                    ChannelMsg::ExitStatus { exit_status } => out.status = exit_status as i32,
                    ChannelMsg::ExitSignal { signal_name, .. } => signalled = Some(format!("{signal_name:?}")),
                    _ => {}
                }
            }
            Ok::<_, russh::Error>((out, signalled))
        };
        let started = std::time::Instant::now();
        let result = self.runtime.block_on(async { tokio::time::timeout(timeout, run).await });
        let timed_out = started.elapsed().as_secs() >= secs;
        match result {
            Ok(Ok((out, Some(signal)))) if out.status == -1 && signal.contains("KILL") && timed_out => {
                Err(failed(format!(
                    "it was killed on the host after its timeout of {:.1}s",
                    (timeout - Duration::from_secs(2)).as_secs_f64()
                )))
            }
            Ok(Ok((out, _))) if out.status == 137 && timed_out => Err(failed(format!(
                "it was killed on the host after its timeout of {:.1}s (exit status 137)",
                (timeout - Duration::from_secs(2)).as_secs_f64()
            ))),
            Ok(Ok((out, _))) => Ok(out),
            Ok(Err(e)) => Err(failed(format!("the SSH channel failed: {e}"))),
            Err(_) => Err(failed(format!(
                "no answer within its timeout of {:.1}s; the channel was closed",
                timeout.as_secs_f64()
            ))),
        }
    }
}

/// Appends what fits under the output limit.
fn keep(buf: &mut Vec<u8>, data: &[u8]) {
    let room = REMOTE_OUTPUT_LIMIT.saturating_sub(buf.len());
    buf.extend_from_slice(&data[..data.len().min(room)]);
}
