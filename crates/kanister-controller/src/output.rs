//! Reading what a function's pod or exec prints: phase outputs (`###Phase-output###:` lines,
//! written by `kando output` and `kando location push`) and kando's progress lines
//! (`###Phase-progress###:`, printed when the controller sets `KANDO_PROGRESS=kanister`).
//!
//! Upstream's `output.LogAndParse` semantics: the marker may appear anywhere in a line (text
//! before it is ordinary log output); the rest of the line is trimmed and decoded as
//! `{"key": …, "value": …}`; a later key overwrites an earlier one; a malformed object fails
//! the phase (`Failed to unmarshal key-value pair: …`); values are strings. Lines are
//! reassembled whatever the chunking of the stream (upstream reads 64 KiB pieces and stitches
//! a marker split across them; here whole lines are assembled first).
//!
//! This module parses bytes; it does no I/O and holds at most one line (bounded: a line longer
//! than [`MAX_LINE`] without a marker is passed on as log text in pieces).

use serde_json::Value as Json;
use std::collections::BTreeMap;

/// The phase-output marker.
pub const OUTPUT_MARKER: &str = "###Phase-output###:";
/// kando's progress marker (see `kando --progress kanister`).
pub const PROGRESS_MARKER: &str = "###Phase-progress###:";
/// Longest line kept whole; longer lines without a marker are logged in pieces.
pub const MAX_LINE: usize = 4 << 20;

/// Bytes moved by kando in a phase, from its last progress line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transfer {
    /// Stream bytes uploaded (push).
    pub uploaded: i64,
    /// Stream bytes downloaded (pull).
    pub downloaded: i64,
    /// Expected upload size (push: an estimate from the previous snapshot of the path).
    pub estimated_upload: i64,
    /// Expected download size (pull: the snapshot's size).
    pub estimated_download: i64,
}

impl Transfer {
    /// Percent of the expected size moved, when a size is known.
    pub fn percent(&self) -> Option<i64> {
        let (done, total) = if self.estimated_download > 0 {
            (self.downloaded, self.estimated_download)
        } else if self.estimated_upload > 0 {
            (self.uploaded, self.estimated_upload)
        } else {
            return None;
        };
        // A push may outgrow its estimate: a running phase never claims 100.
        Some((done.saturating_mul(100) / total).clamp(0, 99))
    }
}

/// One piece of what a stream said.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Plain log text (one line, without the newline).
    Log(String),
    /// A phase output pair.
    Output(String, String),
    /// A kando progress line.
    Progress(Transfer),
}

/// Incremental parser: feed it chunks as they arrive, then [`Parser::finish`].
#[derive(Debug, Default)]
pub struct Parser {
    line: Vec<u8>,
    outputs: BTreeMap<String, Json>,
    transfer: Transfer,
}

/// A malformed phase output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Failed to unmarshal key-value pair: {0}")]
pub struct OutputError(pub String);

impl Parser {
    /// A fresh parser.
    pub fn new() -> Parser {
        Parser::default()
    }

    /// Feed a chunk; `sink` sees every complete line's events in order.
    pub fn feed(&mut self, chunk: &[u8], sink: &mut dyn FnMut(Event)) -> Result<(), OutputError> {
        let mut rest = chunk;
        while let Some(nl) = rest.iter().position(|b| *b == b'\n') {
            self.line.extend_from_slice(&rest[..nl]);
            rest = &rest[nl + 1..];
            self.end_line(sink)?;
        }
        self.line.extend_from_slice(rest);
        if self.line.len() > MAX_LINE && !contains(&self.line, OUTPUT_MARKER.as_bytes()) {
            // Keep a tail that might start a marker; log the rest.
            let keep = OUTPUT_MARKER.len();
            let cut = self.line.len() - keep;
            let head: Vec<u8> = self.line.drain(..cut).collect();
            sink(Event::Log(String::from_utf8_lossy(&head).into_owned()));
        }
        Ok(())
    }

    /// The end of the stream: a last line without a newline counts.
    pub fn finish(&mut self, sink: &mut dyn FnMut(Event)) -> Result<(), OutputError> {
        if !self.line.is_empty() {
            self.end_line(sink)?;
        }
        Ok(())
    }

    /// The outputs so far (values are JSON strings).
    pub fn outputs(&self) -> &BTreeMap<String, Json> {
        &self.outputs
    }

    /// The last reported transfer.
    pub fn transfer(&self) -> Transfer {
        self.transfer
    }

    fn end_line(&mut self, sink: &mut dyn FnMut(Event)) -> Result<(), OutputError> {
        let raw = std::mem::take(&mut self.line);
        let text = String::from_utf8_lossy(&raw);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        if text.trim().is_empty() {
            return Ok(());
        }
        if let Some(at) = text.find(OUTPUT_MARKER) {
            let before = &text[..at];
            if !before.is_empty() {
                sink(Event::Log(before.to_string()));
            }
            let body = text[at + OUTPUT_MARKER.len()..].trim();
            if body.is_empty() {
                return Ok(());
            }
            let (k, v) = parse_pair(body)?;
            self.outputs.insert(k.clone(), Json::String(v.clone()));
            sink(Event::Output(k, v));
            return Ok(());
        }
        if let Some(at) = text.find(PROGRESS_MARKER)
            && let Some(t) = parse_progress(text[at + PROGRESS_MARKER.len()..].trim(), self.transfer)
        {
            self.transfer = t;
            sink(Event::Progress(t));
            return Ok(());
        }
        sink(Event::Log(text.to_string()));
        Ok(())
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// `{"key":"k","value":"v"}` as Go's `json.Unmarshal` into `struct{Key, Value string}` takes it:
/// field names case-insensitively, unknown fields ignored, a missing field empty, a non-string
/// value an error.
fn parse_pair(body: &str) -> Result<(String, String), OutputError> {
    let v: Json = serde_json::from_str(body).map_err(|e| OutputError(e.to_string()))?;
    let Json::Object(m) = v else {
        return Err(OutputError(format!("json: cannot unmarshal {} into Go value of type output.Output", kind(&v))));
    };
    let field = |name: &str| -> Result<String, OutputError> {
        let found = m.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v).next_back();
        match found {
            None | Some(Json::Null) => Ok(String::new()),
            Some(Json::String(s)) => Ok(s.clone()),
            Some(other) => Err(OutputError(format!(
                "json: cannot unmarshal {} into Go struct field Output.{name} of type string",
                kind(other)
            ))),
        }
    };
    Ok((field("key")?, field("value")?))
}

fn kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "bool",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

fn parse_progress(body: &str, prev: Transfer) -> Option<Transfer> {
    let v: Json = serde_json::from_str(body).ok()?;
    let n = |k: &str| v.get(k).and_then(|x| x.as_i64());
    let bytes = n("bytes")?;
    let total = n("total").unwrap_or(0);
    let mut t = prev;
    match v.get("op")?.as_str()? {
        "push" => {
            t.uploaded = bytes;
            t.estimated_upload = total;
        }
        "pull" => {
            t.downloaded = bytes;
            t.estimated_download = total;
        }
        _ => return None,
    }
    Some(t)
}

/// Parse a whole text at once (exec output): the outputs, or the first malformed one.
pub fn parse_all(text: &[u8]) -> Result<BTreeMap<String, Json>, OutputError> {
    let mut p = Parser::new();
    p.feed(text, &mut |_| {})?;
    p.finish(&mut |_| {})?;
    Ok(p.outputs().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> (Result<BTreeMap<String, Json>, OutputError>, Vec<Event>) {
        let mut p = Parser::new();
        let mut events = Vec::new();
        for c in chunks {
            if let Err(e) = p.feed(c, &mut |e| events.push(e)) {
                return (Err(e), events);
            }
        }
        let r = p.finish(&mut |e| events.push(e)).map(|_| p.outputs().clone());
        (r, events)
    }

    #[test]
    fn marker_anywhere_in_a_line_and_later_keys_win() {
        let (out, ev) = run(&[
            b"starting\nprefix ###Phase-output###: {\"key\":\"a\",\"value\":\"1\"}\n",
            b"###Phase-output###: {\"key\":\"a\",\"value\":\"2\"}\n###Phase-output###:{\"key\":\"b\",\"value\":\"x y\"}",
        ]);
        let out = out.unwrap();
        assert_eq!(out["a"], "2");
        assert_eq!(out["b"], "x y");
        assert_eq!(ev[0], Event::Log("starting".into()));
        assert_eq!(ev[1], Event::Log("prefix ".into()));
        assert_eq!(ev[2], Event::Output("a".into(), "1".into()));
    }

    #[test]
    fn a_marker_split_across_chunks_is_found() {
        let line = b"###Phase-output###: {\"key\":\"k\",\"value\":\"v\"}\n";
        for cut in 1..line.len() {
            let (out, _) = run(&[&line[..cut], &line[cut..]]);
            assert_eq!(out.unwrap()["k"], "v", "cut at {cut}");
        }
        // Byte by byte.
        let pieces: Vec<&[u8]> = line.chunks(1).collect();
        assert_eq!(run(&pieces).0.unwrap()["k"], "v");
    }

    #[test]
    fn malformed_output_fails_as_upstream() {
        let (out, _) = run(&[b"###Phase-output###: {\"key\":\"k\",\"value\":\n"]);
        assert!(out.unwrap_err().to_string().starts_with("Failed to unmarshal key-value pair: "));
        let (out, _) = run(&[b"###Phase-output###: {\"key\":\"k\",\"value\":3}\n"]);
        assert_eq!(
            out.unwrap_err().to_string(),
            "Failed to unmarshal key-value pair: json: cannot unmarshal number into Go struct field Output.value of type string"
        );
        // Go matches field names case-insensitively.
        let (out, _) = run(&[b"###Phase-output###: {\"Key\":\"k\",\"VALUE\":\"v\"}\n"]);
        assert_eq!(out.unwrap()["k"], "v");
        // An empty marker line is nothing.
        assert!(run(&[b"###Phase-output###:   \n"]).0.unwrap().is_empty());
    }

    #[test]
    fn progress_lines_update_the_transfer_and_are_not_logged() {
        let mut p = Parser::new();
        let mut ev = Vec::new();
        p.feed(b"###Phase-progress###: {\"op\":\"pull\",\"bytes\":50,\"transferred\":20,\"total\":200}\n", &mut |e| {
            ev.push(e)
        })
        .unwrap();
        assert_eq!(p.transfer().downloaded, 50);
        assert_eq!(p.transfer().percent(), Some(25));
        p.feed(
            b"###Phase-progress###: {\"op\":\"push\",\"bytes\":10}\nnot json ###Phase-progress###: {oops\n",
            &mut |e| ev.push(e),
        )
        .unwrap();
        assert_eq!(p.transfer().uploaded, 10);
        assert!(matches!(ev[0], Event::Progress(_)));
        assert_eq!(ev.last().unwrap(), &Event::Log("not json ###Phase-progress###: {oops".into()));
    }

    #[test]
    fn percent_never_claims_done_while_running() {
        let t = Transfer { uploaded: 500, estimated_upload: 100, ..Transfer::default() };
        assert_eq!(t.percent(), Some(99));
        assert_eq!(Transfer::default().percent(), None);
    }

    #[test]
    fn very_long_lines_stay_bounded() {
        let mut p = Parser::new();
        let mut logged = 0usize;
        let big = vec![b'x'; MAX_LINE + 10];
        p.feed(&big, &mut |e| {
            if let Event::Log(s) = e {
                logged += s.len()
            }
        })
        .unwrap();
        assert!(p.line.len() <= OUTPUT_MARKER.len());
        p.feed(b"###Phase-output###: {\"key\":\"k\",\"value\":\"v\"}\n", &mut |_| {}).unwrap();
        assert_eq!(p.outputs()["k"], "v");
        assert_eq!(logged, MAX_LINE + 10 - OUTPUT_MARKER.len());
    }
}
