//! sprig v2.22.0's `TxtFuncMap` (the version Kanister pins), function by function, with the
//! behaviour of its Go implementation and of the libraries it calls (goutils, xstrings,
//! mergo, Masterminds/semver v1.5.0): panics surface as `error calling X: …` exactly where
//! Go's would, swallowed errors give the same fallback values. Kanister's FIPS
//! replacements (`ksprig`) are in [`ksprig`].
//!
//! One file per sprig source file (`strings.go` → [`strings`], `list.go` → [`lists`],
//! `dict.go` → [`dicts`], `date.go` → [`dates`], `url.go` → [`urls`], …); each registers its
//! own functions. A function lives in the file of the Go source that implements it; the
//! ones sprig's `functions.go` writes inline go to their topic file (string functions to
//! [`strings`], arithmetic to [`numeric`], `deepEqual` to [`reflect`]), and [`functions`]
//! keeps the rest (`hello`, `env`, `expandenv`, the path functions, `fail`).
//!
//! The files import [`helpers`], `crate::template::{registry, value}`, `gostd` and
//! `golibs`; never each other, the executor or the assembled table.

mod crypto;
mod dates;
mod defaults;
mod dicts;
mod functions;
mod helpers;
mod ksprig;
mod lists;
mod network;
mod numeric;
mod reflect;
mod regex;
mod semver;
mod strings;
mod urls;

use super::registry::Registry;

/// Registers `ksprig.TxtFuncMap()`: sprig's functions, then Kanister's replacements.
pub(crate) fn register(r: &mut Registry) {
    functions::register(r);
    dates::register(r);
    strings::register(r);
    numeric::register(r);
    lists::register(r);
    dicts::register(r);
    defaults::register(r);
    reflect::register(r);
    network::register(r);
    crypto::register(r);
    semver::register(r);
    regex::register(r);
    urls::register(r);
    ksprig::register(r);
}
