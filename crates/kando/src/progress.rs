//! Progress on stderr: a bar on a terminal, plain or JSON lines otherwise, or marker lines for
//! the Kanister controller (`###Phase-progress###: {json}`, see [`PROGRESS_MARKER`]).

use crate::args::ProgressMode;
use indicatif::{ProgressBar, ProgressStyle};
use kanrepo::Progress;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The marker of a progress line for the Kanister controller. The JSON after it:
/// `{"op":"push"|"pull","bytes":N,"transferred":N,"total":N}`: stream bytes read (push) or
/// written (pull) so far, bytes uploaded or downloaded, and the expected stream size (pull: the
/// snapshot's; push: the previous snapshot of the same path, an estimate; absent if unknown).
pub const PROGRESS_MARKER: &str = "###Phase-progress###:";

/// What is being reported.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Push: bytes in, dedup ratio.
    Push,
    /// Pull: bytes out.
    Pull,
}

/// A background thread rendering [`Progress`] until dropped. Dropping it wakes the thread at
/// once (it waits on a channel, not a sleep), so the command does not linger at its end.
pub struct Reporter {
    stop: Option<mpsc::Sender<()>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

pub(crate) fn mb(b: u64) -> f64 {
    b as f64 / 1e6
}

fn summary(op: Op, p: &Progress, secs: f64) -> (String, serde_json::Value) {
    let g = Progress::get;
    let rate = |b: u64| if secs > 0.0 { mb(b) / secs } else { 0.0 };
    match op {
        Op::Push => {
            let (inb, newb, stored) = (g(&p.bytes_in), g(&p.new_bytes), g(&p.stored_bytes));
            let dedup = if inb > 0 { 100.0 * (1.0 - newb as f64 / inb as f64) } else { 0.0 };
            (
                format!(
                    "read {:.1} MB ({:.1} MB/s), new {:.1} MB, stored {:.1} MB, deduplicated {:.1}%",
                    mb(inb),
                    rate(inb),
                    mb(newb),
                    mb(stored),
                    dedup
                ),
                serde_json::json!({"op":"push","bytes_in":inb,"new_bytes":newb,"stored_bytes":stored,
                    "uploaded_bytes":g(&p.transferred_bytes),"chunks":g(&p.chunks),"new_chunks":g(&p.new_chunks),"seconds":secs}),
            )
        }
        Op::Pull => {
            let out = g(&p.bytes_out);
            (
                format!("wrote {:.1} MB ({:.1} MB/s), read {:.1} MB", mb(out), rate(out), mb(g(&p.transferred_bytes))),
                serde_json::json!({"op":"pull","bytes_out":out,"downloaded_bytes":g(&p.transferred_bytes),
                    "seconds":secs}),
            )
        }
    }
}

/// The controller's progress line for `p` now.
pub fn marker_line(op: Op, p: &Progress, total: Option<u64>) -> String {
    let g = Progress::get;
    let (name, bytes) = match op {
        Op::Push => ("push", g(&p.bytes_in)),
        Op::Pull => ("pull", g(&p.bytes_out)),
    };
    let mut j = serde_json::json!({"op": name, "bytes": bytes, "transferred": g(&p.transferred_bytes)});
    if let Some(t) = total {
        j["total"] = t.into();
    }
    format!("{PROGRESS_MARKER} {j}")
}

/// Seconds between progress lines for the controller (`KANDO_PROGRESS_INTERVAL`, default 2).
fn marker_interval() -> Duration {
    std::env::var("KANDO_PROGRESS_INTERVAL")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.05)
        .map(Duration::from_secs_f64)
        .unwrap_or(Duration::from_secs(2))
}

impl Reporter {
    /// Start reporting `p` in `mode`; `total` is the expected stream size, if known.
    pub fn start(mode: ProgressMode, op: Op, p: Arc<Progress>, total: Option<u64>) -> Reporter {
        let mode = match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Bar,
            ProgressMode::Auto => ProgressMode::Plain,
            m => m,
        };
        if mode == ProgressMode::None {
            return Reporter { stop: None, handle: None };
        }
        let (stop, stopped) = mpsc::channel::<()>();
        let handle = std::thread::spawn(move || {
            let t0 = Instant::now();
            let bar = (mode == ProgressMode::Bar).then(|| {
                let b = ProgressBar::new_spinner();
                b.set_style(ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}").unwrap());
                b
            });
            let tick = match mode {
                ProgressMode::Bar => Duration::from_millis(200),
                ProgressMode::Kanister => marker_interval(),
                _ => Duration::from_secs(10),
            };
            let mut last = Instant::now();
            loop {
                // Woken early when the Reporter is dropped (the sender goes away).
                let done =
                    !matches!(stopped.recv_timeout(Duration::from_millis(100)), Err(mpsc::RecvTimeoutError::Timeout));
                if (done && mode != ProgressMode::Plain) || last.elapsed() >= tick {
                    last = Instant::now();
                    let (text, json) = summary(op, &p, t0.elapsed().as_secs_f64());
                    match (&bar, mode) {
                        (Some(b), _) => b.set_message(text),
                        (None, ProgressMode::Json) => eprintln!("{json}"),
                        (None, ProgressMode::Kanister) => eprintln!("{}", marker_line(op, &p, total)),
                        _ => eprintln!("kando: {text}"),
                    }
                }
                if done {
                    if let Some(b) = &bar {
                        b.finish();
                    }
                    return;
                }
            }
        });
        Reporter { stop: Some(stop), handle: Some(handle) }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Progress of a maintenance command ([`kanrepo::StageProgress`]): see [`start_lines`].
pub fn start_stages(mode: ProgressMode, op: &'static str, p: Arc<kanrepo::StageProgress>) -> Reporter {
    start_lines(mode, move || {
        let g = Progress::get;
        let (stage, d, t) = (p.stage(), g(&p.done), g(&p.total));
        let of = if t > 0 { format!(" {d}/{t}") } else { String::new() };
        let text =
            format!("{op}: {stage}{of}, read {:.1} MB, wrote {:.1} MB", mb(g(&p.bytes_read)), mb(g(&p.bytes_written)));
        let json = serde_json::json!({"op": op, "stage": stage, "done": d, "total": t,
            "bytes_read": g(&p.bytes_read), "bytes_written": g(&p.bytes_written)});
        (text, json)
    })
}

/// A spinner with `line()`'s text on a terminal, a line every 5 s otherwise (`json`: its JSON),
/// nothing with `none`, until the returned reporter is dropped.
pub fn start_lines<F>(mode: ProgressMode, line: F) -> Reporter
where
    F: Fn() -> (String, serde_json::Value) + Send + 'static,
{
    let mode = match mode {
        ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Bar,
        ProgressMode::None => return Reporter { stop: None, handle: None },
        ProgressMode::Json | ProgressMode::Bar => mode,
        _ => ProgressMode::Plain,
    };
    let (stop, stopped) = mpsc::channel::<()>();
    let handle = std::thread::spawn(move || {
        let bar = (mode == ProgressMode::Bar).then(|| {
            let b = ProgressBar::new_spinner();
            b.set_style(ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}").unwrap());
            b
        });
        let tick = if bar.is_some() { Duration::from_millis(200) } else { Duration::from_secs(5) };
        let mut last = Instant::now();
        loop {
            let done =
                !matches!(stopped.recv_timeout(Duration::from_millis(100)), Err(mpsc::RecvTimeoutError::Timeout));
            if done {
                if let Some(b) = &bar {
                    b.finish_and_clear();
                }
                return;
            }
            if last.elapsed() >= tick {
                last = Instant::now();
                let (text, json) = line();
                match (&bar, mode) {
                    (Some(b), _) => b.set_message(text),
                    (None, ProgressMode::Json) => eprintln!("{json}"),
                    _ => eprintln!("kando: {text}"),
                }
            }
        }
    });
    Reporter { stop: Some(stop), handle: Some(handle) }
}
