//! Container logs as the kubelet serves them: the container's stdout+stderr file, from the
//! start or the last `tailLines` lines, at most `limitBytes`, and with `follow` streamed until
//! the container run that wrote the file has ended and the file is drained (nothing lost
//! between reads: one file position advances; nothing cut at the end: a last read after the
//! exit is seen). Only reads files; the HTTP plumbing is in `server.rs`.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;

use crate::registry::RunState;

/// Query options of `GET /containerLogs/...` (timestamps and sinceSeconds are accepted and
/// ignored: the file keeps no per-line times).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Stream until the container ends.
    pub follow: bool,
    /// Only the last N lines.
    pub tail_lines: Option<u64>,
    /// At most N bytes in all.
    pub limit_bytes: Option<u64>,
    /// The previous run's log.
    pub previous: bool,
}

impl LogOptions {
    /// From query pairs; `Err` names a malformed value.
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, String> {
        let mut o = LogOptions::default();
        for (k, v) in pairs {
            let num = || v.parse::<u64>().map_err(|_| format!("invalid {k}: {v:?}"));
            match k.as_str() {
                "follow" => o.follow = truthy(v),
                "previous" => o.previous = truthy(v),
                "tailLines" => o.tail_lines = Some(num()?),
                "limitBytes" => o.limit_bytes = Some(num()?),
                _ => {}
            }
        }
        Ok(o)
    }
}

/// `true`, `1` (and any capitalisation of true).
pub fn truthy(v: &str) -> bool {
    v == "1" || v.eq_ignore_ascii_case("true")
}

/// The offset where the last `lines` lines of the file start, reading it backwards in blocks of
/// `block` bytes. A final line without a newline counts as a line.
pub fn tail_offset<R: Read + Seek>(f: &mut R, lines: u64, block: usize) -> std::io::Result<u64> {
    let len = f.seek(SeekFrom::End(0))?;
    if lines == 0 {
        return Ok(len);
    }
    let mut end = len;
    let mut seen = 0u64;
    let mut buf = vec![0u8; block.max(1)];
    let mut first = true;
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let n = (end - start) as usize;
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf[..n])?;
        for i in (0..n).rev() {
            if first {
                first = false;
                if buf[i] == b'\n' {
                    continue; // the terminator of the last line
                }
            }
            if buf[i] == b'\n' {
                seen += 1;
                if seen == lines {
                    return Ok(start + i as u64 + 1);
                }
            }
        }
        end = start;
    }
    Ok(0)
}

/// Where a log read starts: 0 or the tail offset.
pub fn start_offset(path: &Path, tail: Option<u64>) -> std::io::Result<u64> {
    match tail {
        None => Ok(0),
        Some(n) => tail_offset(&mut std::fs::File::open(path)?, n, 64 * 1024),
    }
}

/// Reads a log file from `pos`: every chunk as it comes, ending at EOF (no follow) or once the
/// run `attempt` of the container is over and the file is drained (follow).
pub struct LogReader {
    file: std::fs::File,
    remaining: Option<u64>,
    follow: bool,
    attempt: u64,
    state: watch::Receiver<RunState>,
    done: bool,
}

impl LogReader {
    /// Opens `path` at `pos`.
    pub fn open(
        path: &Path,
        pos: u64,
        opts: &LogOptions,
        attempt: u64,
        state: watch::Receiver<RunState>,
    ) -> std::io::Result<Self> {
        let mut file = std::fs::File::open(path)?;
        file.seek(SeekFrom::Start(pos))?;
        Ok(LogReader { file, remaining: opts.limit_bytes, follow: opts.follow, attempt, state, done: false })
    }

    fn read_some(&mut self) -> std::io::Result<Option<Bytes>> {
        let want = self.remaining.map_or(64 * 1024, |r| r.min(64 * 1024)) as usize;
        if want == 0 {
            return Ok(None);
        }
        let mut buf = vec![0u8; want];
        let n = self.file.read(&mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        if let Some(r) = &mut self.remaining {
            *r -= n as u64;
        }
        Ok(Some(Bytes::from(buf)))
    }

    /// The next chunk, or `None` at the end.
    pub async fn next(&mut self) -> std::io::Result<Option<Bytes>> {
        if self.done || self.remaining == Some(0) {
            return Ok(None);
        }
        loop {
            if let Some(b) = self.read_some()? {
                return Ok(Some(b));
            }
            if !self.follow {
                self.done = true;
                return Ok(None);
            }
            let over = {
                let s = self.state.borrow_and_update();
                s.attempt != self.attempt || !s.running
            };
            if over {
                // Everything the run wrote is in the file now: drain it, then stop.
                self.done = true;
                return self.read_some();
            }
            tokio::select! {
                _ = self.state.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    }
}

/// The last `lines` lines of `text` (for a failed container's termination message), at most
/// `max` bytes (the end kept).
pub fn last_lines(text: &[u8], lines: u64, max: usize) -> String {
    let mut cur = std::io::Cursor::new(text);
    let off = tail_offset(&mut cur, lines, 4096).unwrap_or(0) as usize;
    let tail = &text[off.max(text.len().saturating_sub(max))..];
    String::from_utf8_lossy(tail).trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn tail(s: &str, n: u64, block: usize) -> String {
        let off = tail_offset(&mut Cursor::new(s.as_bytes()), n, block).unwrap() as usize;
        s[off..].to_string()
    }

    #[test]
    fn tail_lines_across_blocks() {
        for block in [1, 2, 3, 7, 64 * 1024] {
            assert_eq!(tail("a\nb\nc\n", 2, block), "b\nc\n");
            assert_eq!(tail("a\nb\nc", 2, block), "b\nc");
            assert_eq!(tail("a\nb\nc\n", 5, block), "a\nb\nc\n");
            assert_eq!(tail("a\nb\nc\n", 0, block), "");
            assert_eq!(tail("", 3, block), "");
            assert_eq!(tail("\n\n\n", 1, block), "\n");
            assert_eq!(tail("one line", 1, block), "one line");
        }
    }

    #[test]
    fn options() {
        let q = |v: &[(&str, &str)]| v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
        let o =
            LogOptions::parse(&q(&[("follow", "true"), ("tailLines", "10"), ("limitBytes", "5"), ("timestamps", "1")]))
                .unwrap();
        assert_eq!(o, LogOptions { follow: true, tail_lines: Some(10), limit_bytes: Some(5), previous: false });
        assert!(LogOptions::parse(&q(&[("tailLines", "x")])).is_err());
        assert!(!LogOptions::parse(&q(&[("follow", "false")])).unwrap().follow);
    }

    #[test]
    fn termination_message() {
        assert_eq!(last_lines(b"1\n2\n3\n4\n", 2, 100), "3\n4");
        assert_eq!(last_lines(b"abcdef\n", 5, 3), "ef");
    }

    #[tokio::test]
    async fn reader_limits_and_follows_to_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.log");
        std::fs::write(&p, "hello\nworld\n").unwrap();
        let (tx, rx) = watch::channel(RunState { attempt: 1, running: true, pid: None });
        let opts = LogOptions { limit_bytes: Some(8), ..Default::default() };
        let mut r = LogReader::open(&p, 0, &opts, 1, rx.clone()).unwrap();
        let mut got = Vec::new();
        while let Some(b) = r.next().await.unwrap() {
            got.extend_from_slice(&b);
        }
        assert_eq!(got, b"hello\nwo");

        let opts = LogOptions { follow: true, ..Default::default() };
        let mut r = LogReader::open(&p, 6, &opts, 1, rx).unwrap();
        assert_eq!(&r.next().await.unwrap().unwrap()[..], b"world\n");
        let p2 = p.clone();
        let writer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().append(true).open(&p2).unwrap();
            f.write_all(b"late\n").unwrap();
            f.write_all(b"last").unwrap();
            tx.send_replace(RunState { attempt: 1, running: false, pid: None });
        });
        let mut rest = Vec::new();
        while let Some(b) = r.next().await.unwrap() {
            rest.extend_from_slice(&b);
        }
        writer.await.unwrap();
        assert_eq!(rest, b"late\nlast");
    }
}
