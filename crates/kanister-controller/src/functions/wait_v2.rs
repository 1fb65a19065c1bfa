//! `WaitV2`: like `Wait`, but each `condition` is a kubectl-style Go template evaluated with
//! the object as its data (`{{ range $.status.conditions }}…`), and `timeout` is taken as
//! written (not rendered), as upstream.
//!
//! Resume: run again.

use super::wait::{decode, wait_for};
use super::{Outputs, until_cancelled};
use crate::args::Args;
use crate::context::PhaseCtx;
use futures::FutureExt;
use futures::future::BoxFuture;
use kanister::template::{MissingKey, from_json, render_with};
use serde_json::Value as Json;

fn judge_v2(cond: &str, obj: &Json) -> Result<bool, String> {
    let out = render_with(cond, &from_json(obj), MissingKey::Invalid).map_err(|e| e.to_string())?;
    Ok(out.trim() == "true")
}

pub(super) fn run<'a>(pc: &'a PhaseCtx<'a>, a: &'a Args) -> BoxFuture<'a, Result<Outputs, String>> {
    async move {
        let (conds, timeout) = decode(pc, a, false)?;
        until_cancelled(pc, wait_for(pc, &conds, timeout, judge_v2)).await?;
        Ok(Outputs::new())
    }
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_postgres_start_stop_condition() {
        let c = r#"{{ $available := false }}{{ range $condition := $.status.conditions }}{{ if and (eq .type "ContainersReady") (eq .status "True") }}{{ $available = true }}{{ end }}{{ end }}{{ $available }}"#;
        let ready = json!({"status": {"conditions": [{"type": "Initialized", "status": "True"}, {"type": "ContainersReady", "status": "True"}]}});
        assert!(judge_v2(c, &ready).unwrap());
        let not = json!({"status": {"conditions": [{"type": "ContainersReady", "status": "False"}]}});
        assert!(!judge_v2(c, &not).unwrap());
    }
}
