//! sprig's reflect.go (`typeOf`, `typeIs`, `typeIsLike`, `kindOf`, `kindIs`) and
//! `deepEqual` (`reflect.DeepEqual`, inline in functions.go), on the Go type names
//! [`crate::template::value`] keeps.
//!
//! Registers into [`crate::template::registry`]; must not import the executor, the assembled
//! table or the other sprig files (what they share is in [`super::helpers`]).

use super::helpers::{s, str_v};
use crate::template::registry::{Registry, Ty::*};
use crate::template::value::{deep_equal, kind_name, type_name};
use gotmpl::Value;

/// Registers reflect.go's functions.
pub(super) fn register(r: &mut Registry) {
    r.plain("typeOf", &[Any], None, |a| str_v(type_name(&a[0])));
    r.plain("typeIs", &[Str, Any], None, |a| Ok(Value::Bool(s(&a[0]) == type_name(&a[1]))));
    r.plain("typeIsLike", &[Str, Any], None, |a| {
        let t = type_name(&a[1]);
        Ok(Value::Bool(s(&a[0]) == t || format!("*{}", s(&a[0])) == t))
    });
    r.plain("kindOf", &[Any], None, |a| str_v(kind_name(&a[0])));
    r.plain("kindIs", &[Str, Any], None, |a| Ok(Value::Bool(s(&a[0]) == kind_name(&a[1]))));
    r.plain("deepEqual", &[Any, Any], None, |a| {
        Ok(Value::Bool(type_name(&a[0]) == type_name(&a[1]) && deep_equal(&a[0], &a[1])))
    });
}
