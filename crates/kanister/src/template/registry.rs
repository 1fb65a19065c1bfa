//! The vocabulary of the function table: a function's Go parameter types ([`Ty`]), its
//! implementation ([`Imp`]: a plain function on converted values, a builtin that sees
//! reflect-like [`Ev`]s, or one of the builtins the executor runs itself) and the
//! [`Registry`] every function file adds its functions to.
//!
//! text/template checks arguments against the Go parameter types (`expected string; found
//! 3`, `wrong type for value; expected string; got int`, `wrong number of args`), so every
//! function carries them. This is a leaf below the executor and every function file: it
//! must not import the executor, the Go builtins, sprig or the assembled table.

use super::ev::Ev;
use super::value::{View, classify, map_type};
use gotmpl::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A Go parameter type, as far as argument checking needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    /// No type (the receiver of a chain `(x).F`).
    Untyped,
    /// `interface{}`.
    Any,
    /// `reflect.Value` (the builtins that see values unconverted).
    RValue,
    Str,
    Int,
    Uint32,
    Float,
    Bool,
    /// `map[string]interface{}`.
    MapSA,
    /// `time.Time`.
    Time,
}

impl Ty {
    pub fn go_name(self) -> &'static str {
        match self {
            Ty::Untyped => "<nil>",
            Ty::Any => "interface {}",
            Ty::RValue => "reflect.Value",
            Ty::Str => "string",
            Ty::Int => "int",
            Ty::Uint32 => "uint32",
            Ty::Float => "float64",
            Ty::Bool => "bool",
            Ty::MapSA => "map[string]interface {}",
            Ty::Time => "time.Time",
        }
    }

    pub fn can_be_nil(self) -> bool {
        matches!(self, Ty::Any | Ty::RValue | Ty::MapSA)
    }

    pub fn zero(self) -> Ev {
        match self {
            Ty::Any => Ev::Iface(Value::Nil),
            Ty::MapSA => Ev::Val(Value::Map(Arc::new(BTreeMap::new()))),
            _ => Ev::Invalid,
        }
    }

    /// Whether a value of `v`'s dynamic type is assignable to this type. (Integers of any
    /// Go width are accepted for integer parameters: Go would reject an `int64` result of
    /// `add` passed to an `int` parameter, we don't track integer widths.)
    pub fn accepts(self, v: &Value) -> bool {
        match (self, classify(v)) {
            (Ty::Any | Ty::RValue | Ty::Untyped, _) => true,
            (Ty::Str, View::Str(_)) => true,
            (Ty::Int | Ty::Uint32, View::Int(_) | View::Uint(_)) => true,
            (Ty::Float, View::Float(_)) => true,
            (Ty::Bool, View::Bool(_)) => true,
            (Ty::MapSA, View::Map(m)) => map_type(m).is_none(),
            (Ty::Time, View::Time(_)) => true,
            _ => false,
        }
    }
}

/// A plain function: arguments already checked and converted.
pub(crate) type PlainFn = fn(&[Value]) -> Result<Value, String>;
/// A builtin that sees `reflect.Value`s.
pub(crate) type ReflectFn = fn(&[Ev]) -> Result<Ev, String>;

pub(crate) enum Imp {
    Plain(PlainFn),
    Reflect(ReflectFn),
    Call,
    And,
    Or,
}

pub(crate) struct Func {
    pub params: &'static [Ty],
    pub variadic: Option<Ty>,
    /// The Go function returns `interface{}` (its result is unwrapped by pipelines).
    pub ret_iface: bool,
    pub imp: Imp,
}

/// The function table under construction: the Go builtins and every sprig file register
/// their functions here, and [`super::table`] keeps the result.
pub(crate) struct Registry {
    funcs: BTreeMap<&'static str, Func>,
}

impl Registry {
    pub fn new() -> Self {
        Registry { funcs: BTreeMap::new() }
    }

    /// Adds function `name` (each name is registered once).
    pub fn add(&mut self, name: &'static str, params: &'static [Ty], variadic: Option<Ty>, ret_iface: bool, imp: Imp) {
        let previous = self.funcs.insert(name, Func { params, variadic, ret_iface, imp });
        debug_assert!(previous.is_none(), "function {name} registered twice");
    }

    /// A plain function whose Go result has a concrete type (`string`, `bool`, `[]string`, …).
    pub fn plain(&mut self, name: &'static str, params: &'static [Ty], variadic: Option<Ty>, f: PlainFn) {
        self.add(name, params, variadic, false, Imp::Plain(f));
    }

    /// A plain function whose Go result type is `interface{}` (pipelines unwrap it).
    pub fn plain_iface(&mut self, name: &'static str, params: &'static [Ty], variadic: Option<Ty>, f: PlainFn) {
        self.add(name, params, variadic, true, Imp::Plain(f));
    }

    /// The finished table.
    pub fn into_map(self) -> BTreeMap<&'static str, Func> {
        self.funcs
    }
}
