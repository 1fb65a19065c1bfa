//! [`Ev`]: a value during execution, keeping the distinctions Go's `reflect.Value` makes
//! (no value at all, a concrete value, a value held in an `interface{}`). Shared by the
//! executor and the function table's reflective builtins, so it lives below both: it must
//! import nothing but [`super::value`].

use super::value::type_name;
use gotmpl::Value;

/// A value during execution, keeping the distinctions Go's reflection makes.
#[derive(Clone, Debug)]
pub(crate) enum Ev {
    /// The zero `reflect.Value` (no value at all).
    Invalid,
    /// A value of its own concrete type.
    Val(Value),
    /// A value whose static type is `interface{}` (an element of a map or list).
    Iface(Value),
}

impl Ev {
    pub fn val(v: Value) -> Ev {
        if matches!(v, Value::Nil) { Ev::Invalid } else { Ev::Val(v) }
    }

    /// The concrete value (`Nil` for no value).
    pub fn value(&self) -> Value {
        match self {
            Ev::Invalid => Value::Nil,
            Ev::Val(v) | Ev::Iface(v) => v.clone(),
        }
    }

    /// Go's `indirectInterface`.
    pub fn indirect_interface(&self) -> Ev {
        match self {
            Ev::Iface(Value::Nil) => Ev::Invalid,
            Ev::Iface(v) => Ev::Val(v.clone()),
            other => other.clone(),
        }
    }

    /// Static type name, as Go's `value.Type()` prints it.
    pub(crate) fn static_type(&self) -> String {
        match self {
            Ev::Iface(_) => "interface {}".into(),
            Ev::Val(v) => type_name(v),
            Ev::Invalid => "<invalid>".into(),
        }
    }
}
