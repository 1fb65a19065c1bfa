//! The parse tree of Go's `text/template/parse` (`node.go`): the nodes this port needs,
//! their positions, Go's `Node.String()` forms (which execution errors quote as their
//! context, `at <.Foo.Bar>`) and `newNumber`'s typing of number literals. Must not import
//! the parser or the executor.

use super::lex::Kind;
use crate::template::gostd::strconv::{parse_go_float, parse_go_int, parse_go_uint, quote_go, unquote_char};

/// A number literal, parsed under every type that can hold it (Go's `NumberNode`).
#[derive(Debug, Clone)]
pub(crate) struct Number {
    pub pos: usize,
    pub is_int: bool,
    pub is_uint: bool,
    pub is_float: bool,
    pub int: i64,
    pub uint: u64,
    pub float: f64,
    pub text: String,
}

/// An operand of a command.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Dot(usize),
    Nil(usize),
    Bool(usize, bool),
    Number(Box<Number>),
    /// Position, the quoted source text, the unquoted value.
    Str(usize, String, String),
    Field(usize, Vec<String>),
    /// `$x.A.B`: `idents[0]` is the variable name.
    Variable(usize, Vec<String>),
    Identifier(usize, String),
    Pipe(Box<Pipe>),
    Chain(usize, Box<Arg>, Vec<String>),
}

impl Arg {
    pub fn pos(&self) -> usize {
        match self {
            Arg::Dot(p)
            | Arg::Nil(p)
            | Arg::Bool(p, _)
            | Arg::Str(p, _, _)
            | Arg::Field(p, _)
            | Arg::Variable(p, _)
            | Arg::Identifier(p, _)
            | Arg::Chain(p, _, _) => *p,
            Arg::Number(n) => n.pos,
            Arg::Pipe(p) => p.pos,
        }
    }

    fn write(&self, s: &mut String) {
        match self {
            Arg::Dot(_) => s.push('.'),
            Arg::Nil(_) => s.push_str("nil"),
            Arg::Bool(_, b) => s.push_str(if *b { "true" } else { "false" }),
            Arg::Number(n) => s.push_str(&n.text),
            Arg::Str(_, quoted, _) => s.push_str(quoted),
            Arg::Field(_, idents) => {
                for i in idents {
                    s.push('.');
                    s.push_str(i);
                }
            }
            Arg::Variable(_, idents) => s.push_str(&idents.join(".")),
            Arg::Identifier(_, name) => s.push_str(name),
            Arg::Pipe(p) => p.write(s),
            Arg::Chain(_, node, fields) => {
                if let Arg::Pipe(p) = node.as_ref() {
                    s.push('(');
                    p.write(s);
                    s.push(')');
                } else {
                    node.write(s);
                }
                for f in fields {
                    s.push('.');
                    s.push_str(f);
                }
            }
        }
    }

    /// Go's `Node.String()`.
    pub fn to_go_string(&self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        s
    }
}

/// `cmd arg arg …`.
#[derive(Debug, Clone)]
pub(crate) struct Command {
    pub pos: usize,
    pub args: Vec<Arg>,
}

impl Command {
    fn write(&self, s: &mut String) {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            if let Arg::Pipe(p) = a {
                s.push('(');
                p.write(s);
                s.push(')');
            } else {
                a.write(s);
            }
        }
    }

    pub fn to_go_string(&self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        s
    }
}

/// `$x := cmd | cmd`.
#[derive(Debug, Clone)]
pub(crate) struct Pipe {
    pub pos: usize,
    pub is_assign: bool,
    pub decl: Vec<String>,
    pub cmds: Vec<Command>,
}

impl Pipe {
    fn write(&self, s: &mut String) {
        if !self.decl.is_empty() {
            s.push_str(&self.decl.join(", "));
            s.push_str(if self.is_assign { " = " } else { " := " });
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                s.push_str(" | ");
            }
            c.write(s);
        }
    }

    pub fn to_go_string(&self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        s
    }
}

/// `if`, `range` or `with`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BranchKind {
    If,
    Range,
    With,
}

#[derive(Debug, Clone)]
pub(crate) struct Branch {
    pub kind: BranchKind,
    pub pos: usize,
    pub pipe: Pipe,
    pub list: List,
    pub else_list: Option<List>,
}

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Text(String),
    Action { pos: usize, pipe: Pipe },
    Branch(Box<Branch>),
    Template { pos: usize, name: String, pipe: Option<Pipe> },
    Break,
    Continue,
    Comment,
}

impl Node {
    fn write(&self, s: &mut String) {
        match self {
            Node::Text(t) => s.push_str(t),
            Node::Action { pipe, .. } => {
                s.push_str("{{");
                pipe.write(s);
                s.push_str("}}");
            }
            Node::Branch(b) => {
                s.push_str(match b.kind {
                    BranchKind::If => "{{if ",
                    BranchKind::Range => "{{range ",
                    BranchKind::With => "{{with ",
                });
                b.pipe.write(s);
                s.push_str("}}");
                b.list.write(s);
                if let Some(e) = &b.else_list {
                    s.push_str("{{else}}");
                    e.write(s);
                }
                s.push_str("{{end}}");
            }
            Node::Template { name, pipe, .. } => {
                s.push_str("{{template ");
                s.push_str(&quote_go(name));
                if let Some(p) = pipe {
                    s.push(' ');
                    p.write(s);
                }
                s.push_str("}}");
            }
            Node::Break => s.push_str("{{break}}"),
            Node::Continue => s.push_str("{{continue}}"),
            Node::Comment => {}
        }
    }

    pub fn to_go_string(&self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        s
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct List {
    pub nodes: Vec<Node>,
}

impl List {
    fn write(&self, s: &mut String) {
        for n in &self.nodes {
            n.write(s);
        }
    }

    /// Go's `parse.IsEmptyTree`: nothing but space and comments.
    pub fn is_empty_tree(&self) -> bool {
        self.nodes.iter().all(|n| match n {
            Node::Comment => true,
            Node::Text(t) => {
                t.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\u{85}' || c == '\u{a0}').is_empty()
            }
            _ => false,
        })
    }
}

/// Go's `newNumber`.
pub(super) fn new_number(pos: usize, text: &str, kind: Kind) -> Result<Number, String> {
    let mut n =
        Number { pos, is_int: false, is_uint: false, is_float: false, int: 0, uint: 0, float: 0.0, text: text.into() };
    match kind {
        Kind::CharConstant => {
            let (c, tail) = unquote_char(&text[1..], '\'').ok_or_else(|| "invalid syntax".to_string())?;
            if tail != "'" {
                return Err(format!("malformed character constant: {text}"));
            }
            n.int = c as i64;
            n.uint = c as u64;
            n.float = c as u32 as f64;
            n.is_int = true;
            n.is_uint = true;
            n.is_float = true;
            return Ok(n);
        }
        Kind::Complex => return Err(format!("complex numbers are not supported: {text}")),
        _ => {}
    }
    if text.ends_with('i') {
        return Err(format!("complex numbers are not supported: {text}"));
    }
    let u = parse_go_uint(text);
    if let Some(u) = u {
        n.is_uint = true;
        n.uint = u;
    }
    if let Some(i) = parse_go_int(text) {
        n.is_int = true;
        n.int = i;
        if i == 0 {
            n.is_uint = true;
            n.uint = u.unwrap_or(0);
        }
    }
    if n.is_int {
        n.is_float = true;
        n.float = n.int as f64;
    } else if n.is_uint {
        n.is_float = true;
        n.float = n.uint as f64;
    } else if let Some(f) = parse_go_float(text) {
        if !text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Err(format!("integer overflow: {}", quote_go(text)));
        }
        n.is_float = true;
        n.float = f;
        if !n.is_int && (f as i64) as f64 == f {
            n.is_int = true;
            n.int = f as i64;
        }
        if !n.is_uint && f >= 0.0 && (f as u64) as f64 == f {
            n.is_uint = true;
            n.uint = f as u64;
        }
    }
    if !n.is_int && !n.is_uint && !n.is_float {
        return Err(format!("illegal number syntax: {}", quote_go(text)));
    }
    Ok(n)
}
