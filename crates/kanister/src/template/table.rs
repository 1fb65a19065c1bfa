//! The function table a Kanister template sees, assembled once: Go's builtins
//! ([`super::gostd::template::funcs`]) plus sprig v2.22's `TxtFuncMap` with Kanister's
//! FIPS replacements ([`super::sprig`]), as `ksprig.TxtFuncMap()` builds it.
//!
//! The parser asks it whether a name is defined and the executor looks functions up here.
//! It imports the registry and the function files; none of them may import it back (only
//! the executor and the crate's API do).

use super::gostd::template::funcs as builtins;
use super::registry::{Func, Registry};
use super::sprig;
use std::collections::BTreeMap;
use std::sync::LazyLock;

static FUNCS: LazyLock<BTreeMap<&'static str, Func>> = LazyLock::new(|| {
    let mut r = Registry::new();
    builtins::register(&mut r);
    sprig::register(&mut r);
    r.into_map()
});

/// The function called `name`, if Kanister's templates have one.
pub(crate) fn lookup(name: &str) -> Option<&'static Func> {
    FUNCS.get(name)
}

/// Every function name, sorted.
pub(crate) fn names() -> Vec<&'static str> {
    FUNCS.keys().copied().collect()
}
