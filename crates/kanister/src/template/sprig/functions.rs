//! The functions sprig's functions.go defines inline and no topic file claims: `hello`,
//! `env`, `expandenv`, the `path` functions (`base`, `dir`, `clean`, `ext`,
//! `isAbs`) and `fail`. (Its other inline functions live with their topic: string ones in
//! [`super::strings`], arithmetic in [`super::numeric`], `deepEqual` in [`super::reflect`].)
//!
//! Registers into [`crate::template::registry`]; must not import the executor, the assembled
//! table or the other sprig files (what they share is in [`super::helpers`]).

use super::helpers::{s, str_v};
use crate::template::gostd::os::expand_env;
use crate::template::gostd::path::{path_base, path_clean, path_dir, path_ext};
use crate::template::registry::{Registry, Ty::*};
use gotmpl::Value;

/// Registers functions.go's inline functions.
pub(super) fn register(r: &mut Registry) {
    r.plain("hello", &[], None, |_| str_v("Hello!"));
    r.plain("env", &[Str], None, |a| str_v(std::env::var(s(&a[0])).unwrap_or_default()));
    r.plain("expandenv", &[Str], None, |a| str_v(expand_env(s(&a[0]))));
    r.plain("base", &[Str], None, |a| str_v(path_base(s(&a[0]))));
    r.plain("dir", &[Str], None, |a| str_v(path_dir(s(&a[0]))));
    r.plain("clean", &[Str], None, |a| str_v(path_clean(s(&a[0]))));
    r.plain("ext", &[Str], None, |a| str_v(path_ext(s(&a[0]))));
    r.plain("isAbs", &[Str], None, |a| Ok(Value::Bool(s(&a[0]).starts_with('/'))));
    r.plain("fail", &[Str], None, |a| Err(s(&a[0]).to_string()));
}
