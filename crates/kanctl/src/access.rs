//! Profile credentials and bucket access checks, as upstream's `validate.ProfileBucket`,
//! `ReadAccess` and `WriteAccess` (kanctl 0.119) — through the repository engine's own
//! backends (`kanrepo::profile`), so kanctl checks exactly what kando will use.

use bytes::Bytes;
use kanister::params::ProfileParam;
use std::time::Duration;

/// One of upstream's bucket checks, in the order kanctl runs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessCheck {
    /// The bucket exists and answers a listing at this endpoint and region with these
    /// credentials.
    Region,
    /// Objects in the bucket can be read.
    Read,
    /// An object can be written and deleted.
    Write,
}

impl AccessCheck {
    /// All three, in order.
    pub const ALL: [AccessCheck; 3] = [AccessCheck::Region, AccessCheck::Read, AccessCheck::Write];

    /// Upstream's stage description (`Passed the '…' check`).
    pub fn description(self) -> &'static str {
        match self {
            AccessCheck::Region => "Validate bucket region specified in profile",
            AccessCheck::Read => "Validate read access to bucket specified in profile",
            AccessCheck::Write => "Validate write access to bucket specified in profile",
        }
    }
}

/// The object upstream writes and deletes at the bucket root.
const SAMPLE: &str = "sample";

/// Run one check against the bucket of a resolved profile, at the bucket root as upstream
/// does, with the engine's backends (and so its error messages: a missing bucket, a wrong
/// region, rejected credentials): region = a listing under `sample/` (the bucket answers at
/// this endpoint and region with these credentials); read = reading `sample` (missing is
/// fine); write = put then delete `sample`. The put is create-only: an existing `sample`
/// proves the write was authorised and is left alone.
pub async fn check_profile_access(p: &ProfileParam, check: AccessCheck) -> Result<(), String> {
    let parsed = kanrepo::profile::Profile::parse(&p.to_go_json()).map_err(|e| e.to_string())?;
    let bucket = parsed.location.bucket.clone();
    let mut spec = parsed.cloud_spec().map_err(|e| e.to_string())?;
    spec.prefix = String::new();
    // A validation answers in seconds, not after kando's patient retries.
    spec.transfer.max_retries = 2;
    spec.transfer.retry_timeout = Duration::from_secs(15);
    spec.transfer.request_timeout = Duration::from_secs(30);
    let backend = spec.open().map_err(|e| e.to_string())?;
    use kanrepo::backend::Backend;
    match check {
        AccessCheck::Region => backend.list(&format!("{SAMPLE}/")).await.map(|_| ()).map_err(|e| e.to_string()),
        AccessCheck::Read => match backend.get(SAMPLE).await {
            Err(e) if e.kind() != kanrepo::ErrorKind::NotFound => {
                Err(format!("failed to read from bucket '{bucket}': {e}"))
            }
            _ => Ok(()),
        },
        AccessCheck::Write => {
            match backend.put(SAMPLE, Bytes::from_static(b"sample content")).await {
                Ok(()) => {}
                Err(e) if e.kind() == kanrepo::ErrorKind::AlreadyExists => return Ok(()),
                Err(e) => return Err(format!("failed to write contents to bucket '{bucket}': {e}")),
            }
            backend.delete(SAMPLE).await.map_err(|e| format!("failed to delete contents in bucket '{bucket}': {e}"))
        }
    }
}
