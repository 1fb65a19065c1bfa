//! Execution, following Go's `text/template/exec.go` step for step: the same evaluation
//! order, the same "current node" bookkeeping (so an error names the node Go names, at the
//! same line and column), the same argument typing rules and the same error texts.

use super::fmt::{print_action, quote_go, sprint_value};
use super::funcs::{Func, Imp, Ty, lookup};
use super::parse::{Arg, Branch, BranchKind, Command, List, Node, Number, Pipe};
use super::value::{View, classify, make_typed_nil, map_elem, map_entries, map_type, truth, type_name, zero_of};
use gotmpl::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What Go does with a map key that is not there (`Option("missingkey=…")`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingKey {
    /// `missingkey=error`: execution stops with `map has no entry for key "k"` (Kanister).
    #[default]
    Error,
    /// `missingkey=zero`: the zero value (`<no value>` when printed from an interface map).
    Zero,
    /// `missingkey=default` / `invalid`: the invalid value (`<no value>`).
    Invalid,
}

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
    fn static_type(&self) -> String {
        match self {
            Ev::Iface(_) => "interface {}".into(),
            Ev::Val(v) => type_name(v),
            Ev::Invalid => "<invalid>".into(),
        }
    }
}

/// Control flow out of `walk`.
pub(crate) enum Flow {
    Err(String),
    Break,
    Continue,
}

type R<T> = Result<T, Flow>;

/// The node Go's `state.node` points at.
#[derive(Clone, Copy)]
enum At<'t> {
    None,
    Node(usize, &'t Node),
    Arg(&'t Arg),
    Cmd(&'t Command),
    Pipe(&'t Pipe),
    Branch(&'t Branch),
}

/// Template calls and nested `if`/`range`/`with` blocks together (Go stops template calls at
/// 100000; its stacks grow, ours don't).
const MAX_EXEC_DEPTH: usize = 1000;

pub(crate) struct State<'t> {
    trees: &'t BTreeMap<String, List>,
    src: &'t str,
    parse_name: &'t str,
    tmpl_name: String,
    at: At<'t>,
    vars: Vec<(String, Ev)>,
    depth: usize,
    missing_key: MissingKey,
    pub out: String,
}

/// Runs template `name` of `trees` (parsed from `src` as `parse_name`) on `data`.
pub(crate) fn execute(
    trees: &BTreeMap<String, List>,
    src: &str,
    parse_name: &str,
    data: &Value,
    missing_key: MissingKey,
) -> Result<String, String> {
    let root = Ev::val(data.clone());
    let mut s = State {
        trees,
        src,
        parse_name,
        tmpl_name: parse_name.to_string(),
        at: At::None,
        vars: vec![("$".to_string(), root.clone())],
        depth: 0,
        missing_key,
        out: String::new(),
    };
    let Some(tree) = trees.get(parse_name) else {
        return Err(format!("template: {parse_name}: {} is an incomplete or empty template", quote_go(parse_name)));
    };
    match s.walk(&root, tree) {
        Ok(()) => Ok(s.out),
        Err(Flow::Err(e)) => Err(e),
        Err(Flow::Break | Flow::Continue) => Err(format!("template: {parse_name}: break or continue outside range")),
    }
}

fn go_quote_name(s: &str) -> String {
    quote_go(s)
}

impl<'t> State<'t> {
    fn errorf<T>(&self, msg: String) -> R<T> {
        Err(Flow::Err(self.error_text(msg)))
    }

    fn error_text(&self, msg: String) -> String {
        let (pos, context) = match self.at {
            At::None => return format!("template: {}: {}", self.tmpl_name, msg),
            At::Node(pos, n) => (pos, n.to_go_string()),
            At::Arg(a) => (a.pos(), a.to_go_string()),
            At::Cmd(c) => (c.pos, c.to_go_string()),
            At::Pipe(p) => (p.pos, p.to_go_string()),
            At::Branch(b) => (b.pos, Node::Branch(Box::new(b.clone())).to_go_string()),
        };
        let pos = pos.min(self.src.len());
        let text = &self.src[..pos];
        let line = 1 + text.matches('\n').count();
        let col = match text.rfind('\n') {
            Some(i) => pos - (i + 1),
            None => pos,
        };
        format!(
            "template: {}:{}:{}: executing {} at <{}>: {}",
            self.parse_name,
            line,
            col,
            go_quote_name(&self.tmpl_name),
            context,
            msg
        )
    }

    fn var_value(&self, name: &str) -> R<Ev> {
        for (n, v) in self.vars.iter().rev() {
            if n == name {
                return Ok(v.clone());
            }
        }
        self.errorf(format!("undefined variable: {name}"))
    }

    fn set_var(&mut self, name: &str, v: Ev) -> R<()> {
        for (n, slot) in self.vars.iter_mut().rev() {
            if n == name {
                *slot = v;
                return Ok(());
            }
        }
        self.errorf(format!("undefined variable: {name}"))
    }

    fn set_top_var(&mut self, n: usize, v: Ev) {
        let len = self.vars.len();
        if n <= len {
            self.vars[len - n].1 = v;
        }
    }

    fn walk(&mut self, dot: &Ev, list: &'t List) -> R<()> {
        for node in &list.nodes {
            self.walk_node(dot, node)?;
        }
        Ok(())
    }

    fn walk_node(&mut self, dot: &Ev, node: &'t Node) -> R<()> {
        match node {
            Node::Text(t) => {
                self.out.push_str(t);
                Ok(())
            }
            Node::Action { pos, pipe } => {
                self.at = At::Node(*pos, node);
                let val = self.eval_pipeline(dot, Some(pipe))?;
                if pipe.decl.is_empty() {
                    self.at = At::Node(*pos, node);
                    match &val {
                        Ev::Invalid => self.out.push_str("<no value>"),
                        _ => {
                            let v = val.value();
                            if matches!(v, Value::Function(_)) {
                                return self.errorf(format!(
                                    "can't print {} of type {}",
                                    node.to_go_string(),
                                    type_name(&v)
                                ));
                            }
                            let s = print_action(&v);
                            self.out.push_str(&s);
                        }
                    }
                }
                Ok(())
            }
            Node::Branch(b) => {
                self.at = At::Branch(b);
                match b.kind {
                    BranchKind::Range => self.walk_range(dot, b),
                    _ => self.walk_if_or_with(dot, b),
                }
            }
            Node::Template { pos, name, pipe } => self.walk_template(dot, *pos, node, name, pipe.as_ref()),
            Node::Break => Err(Flow::Break),
            Node::Continue => Err(Flow::Continue),
            Node::Comment => Ok(()),
        }
    }

    fn enter(&mut self) -> R<()> {
        if self.depth >= MAX_EXEC_DEPTH {
            return self.errorf(format!("exceeded maximum template depth ({MAX_EXEC_DEPTH})"));
        }
        self.depth += 1;
        Ok(())
    }

    fn walk_if_or_with(&mut self, dot: &Ev, b: &'t Branch) -> R<()> {
        self.enter()?;
        let r = self.walk_if_or_with_inner(dot, b);
        self.depth -= 1;
        r
    }

    fn walk_if_or_with_inner(&mut self, dot: &Ev, b: &'t Branch) -> R<()> {
        let mark = self.vars.len();
        let r = (|| {
            let val = self.eval_pipeline(dot, Some(&b.pipe))?;
            let t = match val.indirect_interface() {
                Ev::Invalid => false,
                other => truth(&other.value()),
            };
            if t {
                if b.kind == BranchKind::With { self.walk(&val, &b.list) } else { self.walk(dot, &b.list) }
            } else if let Some(e) = &b.else_list {
                self.walk(dot, e)
            } else {
                Ok(())
            }
        })();
        self.vars.truncate(mark);
        r
    }

    fn walk_range(&mut self, dot: &Ev, b: &'t Branch) -> R<()> {
        self.at = At::Branch(b);
        self.enter()?;
        let mark = self.vars.len();
        let r = self.walk_range_inner(dot, b);
        self.vars.truncate(mark);
        self.depth -= 1;
        match r {
            Err(Flow::Break) => Ok(()),
            other => other,
        }
    }

    fn walk_range_inner(&mut self, dot: &Ev, b: &'t Branch) -> R<()> {
        let val = self.eval_pipeline(dot, Some(&b.pipe))?.indirect_interface();
        let inner = self.vars.len();
        let decl = &b.pipe.decl;
        let one = |s: &mut Self, index: Ev, elem: Ev| -> R<()> {
            if !decl.is_empty() {
                if b.pipe.is_assign {
                    if decl.len() > 1 {
                        s.set_var(&decl[0], index.clone())?;
                    } else {
                        s.set_var(&decl[0], elem.clone())?;
                    }
                } else {
                    s.set_top_var(1, elem.clone());
                }
            }
            if decl.len() > 1 {
                if b.pipe.is_assign {
                    s.set_var(&decl[1], elem.clone())?;
                } else {
                    s.set_top_var(2, index);
                }
            }
            let r = s.walk(&elem, &b.list);
            s.vars.truncate(inner);
            match r {
                Err(Flow::Continue) => Ok(()),
                other => other,
            }
        };
        let v = val.value();
        let ran = match classify(&v) {
            View::Int(_) | View::Uint(_) if !matches!(val, Ev::Invalid) => {
                if decl.len() > 1 {
                    return self
                        .errorf(format!("can't use {} to iterate over more than one variable", sprint_value(&v)));
                }
                let n = match v {
                    Value::Int(i) => i.max(0) as u64,
                    Value::Uint(u) => u,
                    _ => 0,
                };
                for i in 0..n {
                    let e = if matches!(v, Value::Uint(_)) { Value::Uint(i) } else { Value::Int(i as i64) };
                    one(self, Ev::Invalid, Ev::Val(e))?;
                }
                n > 0
            }
            View::List(l) => {
                let l = l.to_vec();
                for (i, e) in l.iter().enumerate() {
                    one(self, Ev::Val(Value::Int(i as i64)), Ev::Iface(e.clone()))?;
                }
                !l.is_empty()
            }
            View::Bytes(bytes) => {
                for (i, e) in bytes.iter().enumerate() {
                    one(self, Ev::Val(Value::Int(i as i64)), Ev::Val(Value::Uint(*e as u64)))?;
                }
                !bytes.is_empty()
            }
            View::Map(m) => {
                let typed = map_type(m).is_some();
                let entries: Vec<(Arc<str>, Value)> = map_entries(m).map(|(k, v)| (k.clone(), v.clone())).collect();
                for (k, e) in &entries {
                    let e = if typed { Ev::val(e.clone()) } else { Ev::Iface(e.clone()) };
                    one(self, Ev::Val(Value::String(k.clone())), e)?;
                }
                !entries.is_empty()
            }
            View::Nil => false,
            _ => return self.errorf(format!("range can't iterate over {}", print_action(&v))),
        };
        if !ran && let Some(e) = &b.else_list {
            return self.walk(dot, e);
        }
        Ok(())
    }

    fn walk_template(&mut self, dot: &Ev, pos: usize, node: &'t Node, name: &str, pipe: Option<&'t Pipe>) -> R<()> {
        self.at = At::Node(pos, node);
        let Some(tree) = self.trees.get(name) else {
            return self.errorf(format!("template {} not defined", quote_go(name)));
        };
        if self.depth >= MAX_EXEC_DEPTH {
            return self.errorf(format!("exceeded maximum template depth ({MAX_EXEC_DEPTH})"));
        }
        let new_dot = self.eval_pipeline(dot, pipe)?;
        let saved_vars = std::mem::replace(&mut self.vars, vec![("$".to_string(), new_dot.clone())]);
        let saved_name = std::mem::replace(&mut self.tmpl_name, name.to_string());
        self.depth += 1;
        let r = self.walk(&new_dot, tree);
        self.depth -= 1;
        self.tmpl_name = saved_name;
        self.vars = saved_vars;
        r
    }

    fn eval_pipeline(&mut self, dot: &Ev, pipe: Option<&'t Pipe>) -> R<Ev> {
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
    fn time_method(
        &mut self,
        dot: &Ev,
        t: &super::date::GoTime,
        name: &str,
        args: &'t [Arg],
        fin: Option<Ev>,
    ) -> R<Option<Ev>> {
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
            "UTC" | "Local" => super::value::make_time(&t.in_zone("UTC").unwrap_or_else(|| t.clone())),
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
