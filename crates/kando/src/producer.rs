//! `--from-command`: run the producer and turn a non-zero exit into a read error, so the
//! engine never commits the snapshot of a failed dump.

use anyhow::{Context, Result};
use std::io::Read;
use std::process::{Child, ChildStdout, Command, Stdio};

/// Reads a child's stdout; at end of stream, waits for it and fails unless it exited 0.
pub struct CommandReader {
    cmd: String,
    child: Child,
    out: ChildStdout,
    done: bool,
}

impl CommandReader {
    /// Start `sh -c cmd` with stdout piped and stderr inherited.
    pub fn spawn(cmd: &str) -> Result<Self> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting producer command `{cmd}`"))?;
        let out = child.stdout.take().expect("piped stdout");
        Ok(CommandReader { cmd: cmd.to_string(), child, out, done: false })
    }
}

impl Read for CommandReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        let n = self.out.read(buf)?;
        if n == 0 {
            self.done = true;
            let status = self.child.wait()?;
            if !status.success() {
                return Err(std::io::Error::other(format!("producer command `{}` failed: {status}", self.cmd)));
            }
        }
        Ok(n)
    }
}

impl Drop for CommandReader {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
