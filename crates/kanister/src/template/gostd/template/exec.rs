//! Execution, following Go's `text/template/exec.go` step for step: the same evaluation
//! order, the same "current node" bookkeeping (so an error names the node Go names, at the
//! same line and column), the same argument typing rules and the same error texts.
//!
//! Three files, imported bottom up: [`state`] (the state, error texts, variables),
//! [`eval`] (expressions: pipelines, fields, function calls) and this one, which walks the
//! statements (actions, `if`/`with`/`range`, `{{template}}`) and is the entry point. The
//! executor finds functions in [`crate::template::table`]; it must not import sprig or the
//! builtins directly, and nothing but the crate's API may import the executor.

mod eval;
mod state;

pub use state::MissingKey;

use crate::template::ev::Ev;
use crate::template::gostd::fmt::{print_action, sprint_value};
use crate::template::gostd::strconv::quote_go;
use crate::template::gostd::template::node::{Branch, BranchKind, List, Node, Pipe};
use crate::template::value::{View, classify, map_entries, map_type, truth, type_name};
use gotmpl::Value;
use state::{At, Flow, MAX_EXEC_DEPTH, R, State};
use std::collections::BTreeMap;
use std::sync::Arc;

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

impl<'t> State<'t> {
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
}
