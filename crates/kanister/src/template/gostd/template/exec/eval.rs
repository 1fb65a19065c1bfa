//! Expression evaluation for the executor (the second half of Go's `exec.go`): pipelines,
//! commands, fields and chains, variables, function calls with Go's argument typing
//! (`expected string; found 3`, `wrong type for value; …`, `wrong number of args`), `call`,
//! and the `time.Time` methods templates reach (`.Unix`, `.Format "…"`, …).
//!
//! Functions are found in [`crate::template::table`] and described by
//! [`crate::template::registry`]. Builds on [`super::state`]; must not import the statement
//! walker (`super`), sprig or the builtins.

use super::state::{At, MissingKey, R, State};
use crate::template::ev::Ev;
use crate::template::gostd::strconv::quote_go;
use crate::template::gostd::template::node::{Arg, Command, Number, Pipe};
use crate::template::gostd::time::GoTime;
use crate::template::registry::{Func, Imp, Ty};
use crate::template::table::lookup;
use crate::template::value::{
    View, classify, make_time, make_typed_nil, map_elem, map_type, truth, type_name, zero_of,
};
use gotmpl::Value;

impl<'t> State<'t> {
    pub(super) fn eval_pipeline(&mut self, dot: &Ev, pipe: Option<&'t Pipe>) -> R<Ev> {
        let Some(pipe) = pipe else {
            return Ok(Ev::Invalid);
        };
        self.at = At::Pipe(pipe);
        let mut value: Option<Ev> = None;
        for cmd in &pipe.cmds {
            let v = self.eval_command(dot, cmd, value.take())?;
            value = Some(v.indirect_interface());
        }
        let value = value.unwrap_or(Ev::Invalid);
        for var in &pipe.decl {
            if pipe.is_assign {
                self.set_var(var, value.clone())?;
            } else {
                self.vars.push((var.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, args: &'t [Arg], fin: &Option<Ev>) -> R<()> {
        if args.len() > 1 || fin.is_some() {
            return self.errorf(format!("can't give argument to non-function {}", args[0].to_go_string()));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Ev, cmd: &'t Command, fin: Option<Ev>) -> R<Ev> {
        let first = &cmd.args[0];
        match first {
            Arg::Field(_, idents) => return self.eval_field_node(dot, first, idents, &cmd.args, fin),
            Arg::Chain(..) => return self.eval_chain_node(dot, first, &cmd.args, fin),
            Arg::Identifier(_, name) => return self.eval_function(dot, first, name, At::Cmd(cmd), &cmd.args, fin),
            Arg::Pipe(p) => {
                self.not_a_function(&cmd.args, &fin)?;
                return self.eval_pipeline(dot, Some(p));
            }
            Arg::Variable(_, idents) => return self.eval_variable_node(dot, first, idents, &cmd.args, fin),
            _ => {}
        }
        self.at = At::Arg(first);
        self.not_a_function(&cmd.args, &fin)?;
        match first {
            Arg::Bool(_, b) => Ok(Ev::Val(Value::Bool(*b))),
            Arg::Dot(_) => Ok(dot.clone()),
            Arg::Nil(_) => self.errorf("nil is not a command".into()),
            Arg::Number(n) => self.ideal_constant(first, n),
            Arg::Str(_, _, s) => Ok(Ev::Val(Value::from(s.as_str()))),
            _ => self.errorf(format!("can't evaluate command {}", quote_go(&first.to_go_string()))),
        }
    }

    fn ideal_constant(&mut self, node: &'t Arg, n: &Number) -> R<Ev> {
        self.at = At::Arg(node);
        let t = &n.text;
        let is_hex_int =
            t.len() > 2 && t.starts_with('0') && matches!(t.as_bytes()[1], b'x' | b'X') && !t.contains(['p', 'P']);
        let is_rune = t.starts_with('\'');
        if n.is_float && !is_hex_int && !is_rune && t.contains(['.', 'e', 'E', 'p', 'P']) {
            return Ok(Ev::Val(Value::Float(n.float)));
        }
        if n.is_int {
            return Ok(Ev::Val(Value::Int(n.int)));
        }
        if n.is_uint {
            return self.errorf(format!("{t} overflows int"));
        }
        Ok(Ev::Invalid)
    }

    fn eval_field_node(
        &mut self,
        dot: &Ev,
        node: &'t Arg,
        idents: &'t [String],
        args: &'t [Arg],
        fin: Option<Ev>,
    ) -> R<Ev> {
        self.at = At::Arg(node);
        self.eval_field_chain(dot, dot.clone(), idents, args, fin)
    }

    fn eval_chain_node(&mut self, dot: &Ev, node: &'t Arg, args: &'t [Arg], fin: Option<Ev>) -> R<Ev> {
        self.at = At::Arg(node);
        let Arg::Chain(_, inner, fields) = node else {
            return self.errorf("internal error: not a chain".into());
        };
        if fields.is_empty() {
            return self.errorf("internal error: no fields in evalChainNode".into());
        }
        if let Arg::Nil(_) = inner.as_ref() {
            return self.errorf(format!("indirection through explicit nil in {}", node.to_go_string()));
        }
        let pipe = self.eval_arg(dot, Ty::Untyped, inner)?;
        self.eval_field_chain(dot, pipe, fields, args, fin)
    }

    fn eval_variable_node(
        &mut self,
        dot: &Ev,
        node: &'t Arg,
        idents: &'t [String],
        args: &'t [Arg],
        fin: Option<Ev>,
    ) -> R<Ev> {
        self.at = At::Arg(node);
        let value = self.var_value(&idents[0])?;
        if idents.len() == 1 {
            if !args.is_empty() {
                self.not_a_function(args, &fin)?;
            } else if fin.is_some() {
                return self.errorf(format!("can't give argument to non-function {}", node.to_go_string()));
            }
            return Ok(value);
        }
        self.eval_field_chain(dot, value, &idents[1..], args, fin)
    }

    fn eval_field_chain(
        &mut self,
        dot: &Ev,
        receiver: Ev,
        idents: &'t [String],
        args: &'t [Arg],
        fin: Option<Ev>,
    ) -> R<Ev> {
        let n = idents.len();
        let mut receiver = receiver;
        for ident in &idents[..n - 1] {
            receiver = self.eval_field(dot, ident, &[], None, receiver)?;
        }
        self.eval_field(dot, &idents[n - 1], args, fin, receiver)
    }

    fn eval_field(&mut self, dot: &Ev, name: &str, args: &'t [Arg], fin: Option<Ev>, receiver: Ev) -> R<Ev> {
        if let Ev::Invalid = receiver {
            if self.missing_key == MissingKey::Error {
                return self.errorf(format!("nil data; no entry for key {}", quote_go(name)));
            }
            return Ok(Ev::Invalid);
        }
        let typ = receiver.static_type();
        if let Ev::Iface(Value::Nil) = receiver {
            return self.errorf(format!("nil pointer evaluating {typ}.{name}"));
        }
        let v = receiver.value();
        let has_args = args.len() > 1 || fin.is_some();
        match classify(&v) {
            View::Time(t) => {
                if let Some(r) = self.time_method(dot, &t, name, args, fin)? {
                    return Ok(r);
                }
            }
            View::Struct(s) => {
                if name == "String"
                    && let Some(text) = &s.stringer
                {
                    let call_args: &[Arg] = if args.is_empty() { args } else { &args[1..] };
                    let num_in = call_args.len() + usize::from(fin.is_some());
                    if num_in != 0 {
                        return self.errorf(format!("wrong number of args for String: want 0 got {num_in}"));
                    }
                    return Ok(Ev::Val(Value::from(text.as_str())));
                }
                if let Some(field) = s.get(name) {
                    if has_args {
                        return self.errorf(format!("{name} has arguments but cannot be invoked as function"));
                    }
                    return Ok(match field {
                        Value::Nil => Ev::Val(make_typed_nil("interface {}")),
                        other => Ev::Val(other.clone()),
                    });
                }
            }
            View::Map(m) => {
                if has_args {
                    return self.errorf(format!("{name} is not a method but has arguments"));
                }
                let typed = map_type(m);
                return match m.get(name) {
                    Some(x) if typed.is_some() => Ok(Ev::val(x.clone())),
                    Some(x) => Ok(Ev::Iface(x.clone())),
                    None => match self.missing_key {
                        MissingKey::Error => self.errorf(format!("map has no entry for key {}", quote_go(name))),
                        MissingKey::Zero => {
                            Ok(typed.and_then(|t| zero_of(map_elem(&t))).map_or(Ev::Iface(Value::Nil), Ev::Val))
                        }
                        MissingKey::Invalid => Ok(Ev::Invalid),
                    },
                };
            }
            View::TypedNil(t) => {
                return self.errorf(format!("nil pointer evaluating {t}.{name}"));
            }
            _ => {}
        }
        self.errorf(format!("can't evaluate field {name} in type {typ}"))
    }

    /// Methods of time.Time reachable as `.Method` (Go calls them through reflection).
    fn time_method(&mut self, dot: &Ev, t: &GoTime, name: &str, args: &'t [Arg], fin: Option<Ev>) -> R<Option<Ev>> {
        let call_args: &[Arg] = if args.is_empty() { args } else { &args[1..] };
        let num_in = call_args.len() + usize::from(fin.is_some());
        let want = match name {
            "Format" => 1,
            "UTC" | "Local" => 0,
            _ if t.part(name).is_some() => 0,
            _ => return Ok(None),
        };
        if num_in != want {
            return self.errorf(format!("wrong number of args for {name}: want {want} got {num_in}"));
        }
        let result = match name {
            "Format" => {
                let layout = match call_args.first() {
                    Some(a) => self.eval_arg(dot, Ty::Str, a)?,
                    None => {
                        let f = fin.unwrap_or(Ev::Invalid);
                        self.validate_type(f, Ty::Str)?
                    }
                };
                Value::from(t.format(layout.value().as_str().unwrap_or_default()))
            }
            "UTC" | "Local" => make_time(&t.in_zone("UTC").unwrap_or_else(|| t.clone())),
            _ => t.part(name).unwrap_or(Value::Nil),
        };
        Ok(Some(Ev::val(result)))
    }

    fn eval_function(
        &mut self,
        dot: &Ev,
        node: &'t Arg,
        name: &str,
        cmd: At<'t>,
        args: &'t [Arg],
        fin: Option<Ev>,
    ) -> R<Ev> {
        self.at = At::Arg(node);
        let Some(f) = lookup(name) else {
            return self.errorf(format!("{} is not a defined function", quote_go(name)));
        };
        self.eval_call(dot, f, cmd, name, args, fin)
    }

    fn eval_call(&mut self, dot: &Ev, f: &Func, node: At<'t>, name: &str, args: &'t [Arg], fin: Option<Ev>) -> R<Ev> {
        let args: &'t [Arg] = if args.is_empty() { args } else { &args[1..] };
        let num_in = args.len() + usize::from(fin.is_some());
        let num_fixed = if f.variadic.is_some() { f.params.len() } else { args.len() };
        if f.variadic.is_some() {
            if num_in < num_fixed {
                return self.errorf(format!(
                    "wrong number of args for {name}: want at least {} got {}",
                    f.params.len(),
                    args.len()
                ));
            }
        } else if num_in != f.params.len() {
            return self.errorf(format!("wrong number of args for {name}: want {} got {num_in}", f.params.len()));
        }
        if matches!(f.imp, Imp::And | Imp::Or) {
            let is_or = matches!(f.imp, Imp::Or);
            let mut v = Ev::Invalid;
            for a in args {
                v = self.eval_arg(dot, Ty::RValue, a)?;
                let t = match v.indirect_interface() {
                    Ev::Invalid => false,
                    x => truth(&x.value()),
                };
                if t == is_or {
                    return Ok(v);
                }
            }
            if let Some(fv) = fin {
                v = self.validate_type(fv, Ty::RValue)?;
            }
            return Ok(v);
        }
        let mut argv: Vec<Ev> = Vec::with_capacity(num_in);
        let mut i = 0;
        while i < num_fixed && i < args.len() {
            let ty = f.params[i];
            argv.push(self.eval_arg(dot, ty, &args[i])?);
            i += 1;
        }
        if let Some(vt) = f.variadic {
            while i < args.len() {
                argv.push(self.eval_arg(dot, vt, &args[i])?);
                i += 1;
            }
        }
        if let Some(fv) = fin {
            let t = match f.variadic {
                Some(vt) => {
                    if num_in - 1 < f.params.len() {
                        f.params[num_in - 1]
                    } else {
                        vt
                    }
                }
                None => f.params[f.params.len() - 1],
            };
            argv.push(self.validate_type(fv, t)?);
        }
        let result = match &f.imp {
            Imp::Plain(func) => {
                let vals: Vec<Value> = argv.iter().map(Ev::value).collect();
                func(&vals).map(|v| if f.ret_iface { Ev::Iface(v) } else { Ev::val(v) })
            }
            Imp::Reflect(func) => func(&argv),
            Imp::Call => call_builtin(args, &argv),
            Imp::And | Imp::Or => Ok(Ev::Invalid),
        };
        match result {
            Ok(v) => {
                // Go's maps are references: `set $d "k" v` changes the map `$d` names. Values
                // are immutable here, so the variable is rebound to the changed map.
                if matches!(name, "set" | "unset" | "merge" | "mergeOverwrite")
                    && let Some(Arg::Variable(_, idents)) = args.first()
                    && idents.len() == 1
                    && matches!(classify(&v.value()), View::Map(_))
                {
                    self.set_var(&idents[0], Ev::Val(v.value()))?;
                }
                Ok(v)
            }
            Err(e) => {
                self.at = node;
                self.errorf(format!("error calling {name}: {e}"))
            }
        }
    }

    fn validate_type(&mut self, value: Ev, ty: Ty) -> R<Ev> {
        if let Ev::Invalid = value {
            if ty == Ty::Untyped {
                return Ok(Ev::Invalid);
            }
            if ty.can_be_nil() {
                return Ok(ty.zero());
            }
            return self.errorf(format!("invalid value; expected {}", ty.go_name()));
        }
        if ty == Ty::RValue || ty == Ty::Untyped {
            return Ok(value);
        }
        let v = value.value();
        match value {
            Ev::Iface(Value::Nil) => {
                if ty == Ty::Any {
                    return Ok(value);
                }
                self.errorf(format!("wrong type for value; expected {}; got interface {{}}", ty.go_name()))
            }
            _ => {
                if ty.accepts(&v) {
                    Ok(Ev::Val(v))
                } else {
                    self.errorf(format!("wrong type for value; expected {}; got {}", ty.go_name(), type_name(&v)))
                }
            }
        }
    }

    fn eval_arg(&mut self, dot: &Ev, ty: Ty, n: &'t Arg) -> R<Ev> {
        self.at = At::Arg(n);
        match n {
            Arg::Dot(_) => return self.validate_type(dot.clone(), ty),
            Arg::Nil(_) => {
                if ty.can_be_nil() {
                    return Ok(ty.zero());
                }
                return self.errorf(format!("cannot assign nil to {}", ty.go_name()));
            }
            Arg::Field(_, idents) => {
                let v = self.eval_field_node(dot, n, idents, std::slice::from_ref(n), None)?;
                return self.validate_type(v, ty);
            }
            Arg::Variable(_, idents) => {
                let v = self.eval_variable_node(dot, n, idents, &[], None)?;
                return self.validate_type(v, ty);
            }
            Arg::Pipe(p) => {
                let v = self.eval_pipeline(dot, Some(p))?;
                return self.validate_type(v, ty);
            }
            Arg::Identifier(_, name) => {
                let v = self.eval_function(dot, n, name, At::Arg(n), &[], None)?;
                return self.validate_type(v, ty);
            }
            Arg::Chain(..) => {
                let v = self.eval_chain_node(dot, n, &[], None)?;
                return self.validate_type(v, ty);
            }
            _ => {}
        }
        match ty {
            Ty::Bool => match n {
                Arg::Bool(_, b) => Ok(Ev::Val(Value::Bool(*b))),
                _ => self.errorf(format!("expected bool; found {}", n.to_go_string())),
            },
            Ty::Float => match n {
                Arg::Number(x) if x.is_float => Ok(Ev::Val(Value::Float(x.float))),
                _ => self.errorf(format!("expected float; found {}", n.to_go_string())),
            },
            Ty::Int => match n {
                Arg::Number(x) if x.is_int => Ok(Ev::Val(Value::Int(x.int))),
                _ => self.errorf(format!("expected integer; found {}", n.to_go_string())),
            },
            Ty::Uint32 => match n {
                Arg::Number(x) if x.is_uint => Ok(Ev::Val(Value::Int((x.uint as u32) as i64))),
                _ => self.errorf(format!("expected unsigned integer; found {}", n.to_go_string())),
            },
            Ty::Str => match n {
                Arg::Str(_, _, s) => Ok(Ev::Val(Value::from(s.as_str()))),
                _ => self.errorf(format!("expected string; found {}", n.to_go_string())),
            },
            Ty::Any | Ty::RValue => self.eval_empty_interface(dot, n),
            Ty::MapSA | Ty::Time | Ty::Untyped => {
                self.errorf(format!("can't handle {} for arg of type {}", n.to_go_string(), ty.go_name()))
            }
        }
    }

    fn eval_empty_interface(&mut self, dot: &Ev, n: &'t Arg) -> R<Ev> {
        self.at = At::Arg(n);
        match n {
            Arg::Bool(_, b) => Ok(Ev::Val(Value::Bool(*b))),
            Arg::Dot(_) => Ok(dot.clone()),
            Arg::Number(x) => self.ideal_constant(n, x),
            Arg::Str(_, _, s) => Ok(Ev::Val(Value::from(s.as_str()))),
            _ => self.errorf(format!("can't handle assignment of {} to empty interface argument", n.to_go_string())),
        }
    }
}

/// The `call` builtin: `call fn args…`.
fn call_builtin(args: &[Arg], argv: &[Ev]) -> Result<Ev, String> {
    // Go names the callee by its node, or (piped in) by reflect.Value.String().
    let callee = match (args.first(), argv.first()) {
        (Some(a), _) => a.to_go_string(),
        (None, Some(v)) => match v.value() {
            Value::String(s) => s.to_string(),
            other => format!("<{} Value>", type_name(&other)),
        },
        _ => String::new(),
    };
    let Some(first) = argv.first() else {
        return Err("call of nil".into());
    };
    let f = match first.indirect_interface() {
        Ev::Invalid => return Err("call of nil".into()),
        Ev::Val(Value::Function(f)) | Ev::Iface(Value::Function(f)) => f,
        other => return Err(format!("non-function {callee} of type {}", type_name(&other.value()))),
    };
    let rest: Vec<Value> = argv[1..].iter().map(Ev::value).collect();
    match f(&rest) {
        Ok(v) => Ok(Ev::val(v)),
        Err(e) => Err(e.to_string()),
    }
}
