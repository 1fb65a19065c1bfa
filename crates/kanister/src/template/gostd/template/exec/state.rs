//! The executor's state (Go's `exec.go` `state`): the trees, the variable stack, the node
//! an error is reported at and Go's error text for it (`template: config:1:3: executing
//! "config" at <.Foo>: …`), the `missingkey` option and the control flow out of a walk.
//! The base of the executor: must not import its statement walker or expression evaluator
//! (nor the function table, sprig or the builtins).

use crate::template::ev::Ev;
use crate::template::gostd::strconv::quote_go;
use crate::template::gostd::template::node::{Arg, Branch, Command, List, Node, Pipe};
use std::collections::BTreeMap;

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

/// Control flow out of `walk`.
pub(crate) enum Flow {
    Err(String),
    Break,
    Continue,
}

pub(super) type R<T> = Result<T, Flow>;

/// The node Go's `state.node` points at.
#[derive(Clone, Copy)]
pub(super) enum At<'t> {
    None,
    Node(usize, &'t Node),
    Arg(&'t Arg),
    Cmd(&'t Command),
    Pipe(&'t Pipe),
    Branch(&'t Branch),
}

/// Template calls and nested `if`/`range`/`with` blocks together (Go stops template calls at
/// 100000; its stacks grow, ours don't).
pub(super) const MAX_EXEC_DEPTH: usize = 1000;

/// Go's `state`: what one execution carries.
pub(crate) struct State<'t> {
    pub(super) trees: &'t BTreeMap<String, List>,
    pub(super) src: &'t str,
    pub(super) parse_name: &'t str,
    pub(super) tmpl_name: String,
    pub(super) at: At<'t>,
    pub(super) vars: Vec<(String, Ev)>,
    pub(super) depth: usize,
    pub(super) missing_key: MissingKey,
    pub out: String,
}

/// A template name as error texts quote it.
fn go_quote_name(s: &str) -> String {
    quote_go(s)
}

impl<'t> State<'t> {
    pub(super) fn errorf<T>(&self, msg: String) -> R<T> {
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

    pub(super) fn var_value(&self, name: &str) -> R<Ev> {
        for (n, v) in self.vars.iter().rev() {
            if n == name {
                return Ok(v.clone());
            }
        }
        self.errorf(format!("undefined variable: {name}"))
    }

    pub(super) fn set_var(&mut self, name: &str, v: Ev) -> R<()> {
        for (n, slot) in self.vars.iter_mut().rev() {
            if n == name {
                *slot = v;
                return Ok(());
            }
        }
        self.errorf(format!("undefined variable: {name}"))
    }

    pub(super) fn set_top_var(&mut self, n: usize, v: Ev) {
        let len = self.vars.len();
        if n <= len {
            self.vars[len - n].1 = v;
        }
    }
}
