//! Kanister's `pkg/ksprig` (`ksprig.TxtFuncMap()`): sprig's FIPS-sensitive functions
//! replaced. `derivePassword` always errors; `genPrivateKey` errors unless the type is
//! `rsa`, `ecdsa` or `ed25519`, which go to sprig's own (for `ed25519` sprig v2.22
//! answers `Unknown type ed25519`; `rsa` and `ecdsa` key generation is not implemented
//! by this port). `bcrypt` and `htpasswd` are on ksprig's list too, but sprig v2.22 has
//! neither, and ksprig only replaces functions that exist: they stay undefined.
//!
//! Registers into [`crate::template::registry`]; must not import the executor, the assembled
//! table or the other sprig files (what they share is in [`super::helpers`]).

use super::helpers::{s, str_v, unsupported};
use crate::template::registry::{Registry, Ty::*};

/// Kanister's FIPS refusal (ksprig.UnsupportedSprigUsageErr).
fn fips(usage: &str) -> String {
    format!("sprig usage of '{usage}' is not allowed by kanister as it is not FIPS compatible")
}

/// Registers ksprig's replacements (in place of sprig's `derivePassword`/`genPrivateKey`).
pub(super) fn register(r: &mut Registry) {
    r.plain("genPrivateKey", &[Str], None, |a| match s(&a[0]) {
        "ed25519" => str_v("Unknown type ed25519"),
        "rsa" | "ecdsa" => Err(unsupported("genPrivateKey")),
        t => Err(fips(&format!("genPrivateKey for {t}"))),
    });
    r.plain("derivePassword", &[Uint32, Str, Str, Str, Str], None, |_| Err(fips("derivePassword")));
}
