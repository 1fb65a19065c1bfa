//! Plumbing shared by the push and pull pipelines: the first-error slot and stage threads.
//! No pipeline logic here.

use crate::error::{Error, ErrorKind, Result};
use std::sync::{Arc, Mutex};

/// The first error of a pipeline; later ones (usually "channel closed") are dropped.
#[derive(Default)]
pub(crate) struct FirstError(Mutex<Option<Error>>);

impl FirstError {
    pub(crate) fn set(&self, e: Error) {
        let mut g = self.0.lock().unwrap();
        if g.is_none() {
            *g = Some(e);
        }
    }
    pub(crate) fn is_set(&self) -> bool {
        self.0.lock().unwrap().is_some()
    }
    pub(crate) fn take(&self) -> Option<Error> {
        self.0.lock().unwrap().take()
    }
}

pub(crate) fn cancelled() -> Error {
    Error::new(ErrorKind::Cancelled, "pipeline stopped")
}

/// Run `f` on a thread named `name`. A failure other than cancellation is recorded in `fail`
/// (so the pipeline reports the root cause); the result comes back through the receiver.
pub(crate) fn spawn_stage<T: Send + 'static>(
    name: &str,
    fail: &Arc<FirstError>,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<tokio::sync::oneshot::Receiver<Result<T>>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let fail = fail.clone();
    std::thread::Builder::new()
        .name(format!("kando-{name}"))
        .spawn(move || {
            let r = f();
            if let Err(e) = &r
                && e.kind() != ErrorKind::Cancelled
            {
                fail.set(Error::new(e.kind(), e.to_string()));
            }
            let _ = tx.send(r);
        })
        .map_err(|e| Error::new(ErrorKind::Io, format!("starting the {name} thread: {e}")))?;
    Ok(rx)
}
