//! Kanister phase outputs: `###Phase-output###: {"key":"<k>","value":"<v>"}` on stdout.

use anyhow::{Result, bail};

/// The marker the Kanister controller scans pod logs for.
pub const MARKER: &str = "###Phase-output###:";

/// Format one phase output line (without the newline).
pub fn line(key: &str, value: &str) -> Result<String> {
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        bail!("output key '{key}' must be non-empty and match ^[a-zA-Z0-9_]*$");
    }
    let json = serde_json::json!({ "key": key, "value": value });
    Ok(format!("{MARKER} {json}"))
}

/// Print one phase output.
pub fn print(key: &str, value: &str) -> Result<()> {
    use std::io::Write;
    let l = line(key, value)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{l}")?;
    out.flush()?;
    Ok(())
}
