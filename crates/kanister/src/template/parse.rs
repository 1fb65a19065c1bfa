//! The parser of Go's `text/template/parse`: the same grammar, node positions, error texts
//! (`template: config:1: unexpected EOF`), parse-time checks (undefined functions and
//! variables, `{{break}}` outside `{{range}}`, duplicate definitions) and node `String()`
//! forms, which execution errors quote as their context (`at <.Foo.Bar>`).

use super::lex::{Item, Kind, Lexer};
use std::collections::BTreeMap;

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
    /// `$x.A.B`: idents[0] is the variable name.
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
                s.push_str(&super::fmt::quote_go(name));
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

/// What `textOrAction` produced: a node, or one of the `{{end}}` / `{{else}}` terminators.
enum Parsed {
    Node(Node),
    End,
    Else,
}

/// A parse failure: Go's `template: <name>:<line>: <message>`.
#[derive(Debug, Clone)]
pub(crate) struct ParseError(pub String);

type PResult<T> = Result<T, ParseError>;

/// Parses `text` as template `name`: the top-level tree plus every `{{define}}`/`{{block}}`,
/// keyed by name. `has_func` answers whether a function name is defined.
pub(crate) fn parse(
    name: &str,
    text: &str,
    has_func: &dyn Fn(&str) -> bool,
) -> Result<BTreeMap<String, List>, ParseError> {
    let mut p = Parser {
        trees: BTreeMap::new(),
        name: name.to_string(),
        lex: Lexer::new(text),
        token: [eof_item(), eof_item(), eof_item()],
        peek_count: 0,
        vars: vec!["$".to_string()],
        action_line: 0,
        range_depth: 0,
        stack_depth: 0,
        has_func,
    };
    let root = p.parse_top()?;
    p.add(name, root)?;
    Ok(p.trees)
}

fn eof_item() -> Item {
    Item { kind: Kind::Eof, pos: 0, val: String::new(), line: 0 }
}

struct Parser<'a, 'f> {
    trees: BTreeMap<String, List>,
    /// The top-level template's name (Go's `ParseName`).
    name: String,
    lex: Lexer<'a>,
    token: [Item; 3],
    peek_count: usize,
    vars: Vec<String>,
    action_line: usize,
    range_depth: usize,
    stack_depth: usize,
    has_func: &'f dyn Fn(&str) -> bool,
}

/// Go allows 10000 nested parentheses (its stacks grow); ours don't, so parentheses and
/// nested `if`/`range`/`with` blocks together stop at this depth.
const MAX_STACK_DEPTH: usize = 300;

impl Parser<'_, '_> {
    fn next(&mut self) -> Item {
        if self.peek_count > 0 {
            self.peek_count -= 1;
        } else {
            self.token[0] = self.lex.next_item();
        }
        self.token[self.peek_count].clone()
    }

    fn backup(&mut self) {
        self.peek_count += 1;
    }

    fn backup2(&mut self, t1: Item) {
        self.token[1] = t1;
        self.peek_count = 2;
    }

    fn backup3(&mut self, t2: Item, t1: Item) {
        self.token[1] = t1;
        self.token[2] = t2;
        self.peek_count = 3;
    }

    fn peek(&mut self) -> Item {
        if self.peek_count > 0 {
            return self.token[self.peek_count - 1].clone();
        }
        self.peek_count = 1;
        self.token[0] = self.lex.next_item();
        self.token[0].clone()
    }

    fn next_non_space(&mut self) -> Item {
        loop {
            let t = self.next();
            if t.kind != Kind::Space {
                return t;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item {
        let t = self.next_non_space();
        self.backup();
        t
    }

    fn errorf(&self, msg: String) -> ParseError {
        ParseError(format!("template: {}:{}: {}", self.name, self.token[0].line, msg))
    }

    fn expect(&mut self, kind: Kind, context: &str) -> PResult<Item> {
        let t = self.next_non_space();
        if t.kind != kind {
            return Err(self.unexpected(&t, context));
        }
        Ok(t)
    }

    fn unexpected(&self, token: &Item, context: &str) -> ParseError {
        if token.kind == Kind::Error {
            let mut extra = String::new();
            if self.action_line != 0 && self.action_line != token.line {
                extra = format!(" in action started at {}:{}", self.name, self.action_line);
                if token.val.ends_with(" action") {
                    extra = extra[" in action".len()..].to_string();
                }
            }
            return self.errorf(format!("{}{}", token.describe(), extra));
        }
        self.errorf(format!("unexpected {} in {}", token.describe(), context))
    }

    /// Go's `(*Tree).add`: a second non-empty definition of a name is an error.
    fn add(&mut self, name: &str, root: List) -> PResult<()> {
        match self.trees.get(name) {
            Some(existing) if !existing.is_empty_tree() => {
                if !root.is_empty_tree() {
                    return Err(self
                        .errorf(format!("template: multiple definition of template {}", super::fmt::quote_go(name))));
                }
            }
            _ => {
                self.trees.insert(name.to_string(), root);
            }
        }
        Ok(())
    }

    fn parse_top(&mut self) -> PResult<List> {
        let mut root = List::default();
        while self.peek().kind != Kind::Eof {
            if self.peek().kind == Kind::LeftDelim {
                let delim = self.next();
                if self.next_non_space().kind == Kind::Define {
                    // A definition is parsed with a fresh variable scope.
                    let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
                    let saved_range = std::mem::replace(&mut self.range_depth, 0);
                    let r = self.parse_definition();
                    self.vars = saved_vars;
                    self.range_depth = saved_range;
                    r?;
                    continue;
                }
                self.backup2(delim);
            }
            match self.text_or_action()? {
                Parsed::End => return Err(self.errorf("unexpected {{end}}".into())),
                Parsed::Else => return Err(self.errorf("unexpected {{else}}".into())),
                Parsed::Node(n) => root.nodes.push(n),
            }
        }
        Ok(root)
    }

    fn parse_definition(&mut self) -> PResult<()> {
        let context = "define clause";
        let t = self.next_non_space();
        if t.kind != Kind::String && t.kind != Kind::RawString {
            return Err(self.unexpected(&t, context));
        }
        let name = unquote(&t.val).map_err(|e| self.errorf(e))?;
        self.expect(Kind::RightDelim, context)?;
        let (root, end) = self.item_list()?;
        if !matches!(end, Parsed::End) {
            return Err(self.errorf(format!("unexpected {} in {}", parsed_str(&end), context)));
        }
        self.add(&name, root)
    }

    fn item_list(&mut self) -> PResult<(List, Parsed)> {
        let mut list = List::default();
        while self.peek_non_space().kind != Kind::Eof {
            match self.text_or_action()? {
                Parsed::Node(n) => list.nodes.push(n),
                other => return Ok((list, other)),
            }
        }
        Err(self.errorf("unexpected EOF".into()))
    }

    fn text_or_action(&mut self) -> PResult<Parsed> {
        let t = self.next_non_space();
        match t.kind {
            Kind::Text => Ok(Parsed::Node(Node::Text(t.val))),
            Kind::LeftDelim => {
                self.action_line = t.line;
                let r = self.action();
                self.action_line = 0;
                r
            }
            _ => Err(self.unexpected(&t, "input")),
        }
    }

    fn action(&mut self) -> PResult<Parsed> {
        let t = self.next_non_space();
        match t.kind {
            Kind::Block => return self.block_control(),
            Kind::Break => return self.break_control("{{break}}").map(|_| Parsed::Node(Node::Break)),
            Kind::Continue => return self.break_control("{{continue}}").map(|_| Parsed::Node(Node::Continue)),
            Kind::Else => return self.else_control(),
            Kind::End => {
                self.expect(Kind::RightDelim, "end")?;
                return Ok(Parsed::End);
            }
            Kind::If => return self.control(BranchKind::If),
            Kind::Range => return self.control(BranchKind::Range),
            Kind::Template => return self.template_control(),
            Kind::With => return self.control(BranchKind::With),
            _ => {}
        }
        self.backup();
        let t = self.peek();
        let pipe = self.pipeline("command", Kind::RightDelim)?;
        Ok(Parsed::Node(Node::Action { pos: t.pos, pipe }))
    }

    fn break_control(&mut self, what: &str) -> PResult<()> {
        let t = self.next_non_space();
        if t.kind != Kind::RightDelim {
            return Err(self.unexpected(&t, what));
        }
        if self.range_depth == 0 {
            return Err(self.errorf(format!("{what} outside {{{{range}}}}")));
        }
        Ok(())
    }

    fn pipeline(&mut self, context: &str, end: Kind) -> PResult<Pipe> {
        let t = self.peek_non_space();
        let mut pipe = Pipe { pos: t.pos, is_assign: false, decl: Vec::new(), cmds: Vec::new() };
        'decls: loop {
            let v = self.peek_non_space();
            if v.kind != Kind::Variable {
                break;
            }
            self.next();
            let after = self.peek();
            let next = self.peek_non_space();
            if next.kind == Kind::Assign || next.kind == Kind::Declare {
                pipe.is_assign = next.kind == Kind::Assign;
                self.next_non_space();
                pipe.decl.push(v.val.clone());
                self.vars.push(v.val);
            } else if next.kind == Kind::Char && next.val == "," {
                self.next_non_space();
                pipe.decl.push(v.val.clone());
                self.vars.push(v.val);
                if context == "range" && pipe.decl.len() < 2 {
                    match self.peek_non_space().kind {
                        Kind::Variable | Kind::RightDelim | Kind::RightParen => continue 'decls,
                        _ => return Err(self.errorf("range can only initialize variables".into())),
                    }
                }
                return Err(self.errorf(format!("too many declarations in {context}")));
            } else if after.kind == Kind::Space {
                self.backup3(v, after);
            } else {
                self.backup2(v);
            }
            break;
        }
        loop {
            let t = self.next_non_space();
            match t.kind {
                k if k == end => {
                    self.check_pipeline(&pipe, context)?;
                    return Ok(pipe);
                }
                Kind::Bool
                | Kind::CharConstant
                | Kind::Complex
                | Kind::Dot
                | Kind::Field
                | Kind::Identifier
                | Kind::Number
                | Kind::Nil
                | Kind::RawString
                | Kind::String
                | Kind::Variable
                | Kind::LeftParen => {
                    self.backup();
                    let c = self.command()?;
                    pipe.cmds.push(c);
                }
                _ => return Err(self.unexpected(&t, context)),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> PResult<()> {
        if pipe.cmds.is_empty() {
            return Err(self.errorf(format!("missing value for {context}")));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(c.args[0], Arg::Bool(..) | Arg::Dot(_) | Arg::Nil(_) | Arg::Number(_) | Arg::Str(..)) {
                return Err(self.errorf(format!("non executable command in pipeline stage {}", i + 1)));
            }
        }
        Ok(())
    }

    fn control(&mut self, kind: BranchKind) -> PResult<Parsed> {
        if self.stack_depth >= MAX_STACK_DEPTH {
            return Err(self.errorf("max nesting depth exceeded".into()));
        }
        self.stack_depth += 1;
        let r = self.control_scoped(kind);
        self.stack_depth -= 1;
        r
    }

    fn control_scoped(&mut self, kind: BranchKind) -> PResult<Parsed> {
        let context = match kind {
            BranchKind::If => "if",
            BranchKind::Range => "range",
            BranchKind::With => "with",
        };
        let mark = self.vars.len();
        let r = self.control_inner(kind, context);
        self.vars.truncate(mark);
        r
    }

    fn control_inner(&mut self, kind: BranchKind, context: &str) -> PResult<Parsed> {
        let pipe = self.pipeline(context, Kind::RightDelim)?;
        if kind == BranchKind::Range {
            self.range_depth += 1;
        }
        let r = self.item_list();
        if kind == BranchKind::Range {
            self.range_depth -= 1;
        }
        let (list, next) = r?;
        let mut else_list = None;
        if let Parsed::Else = next {
            if kind == BranchKind::If && self.peek().kind == Kind::If {
                self.next();
                let inner = self.control(BranchKind::If)?;
                else_list = Some(List { nodes: vec![parsed_node(inner)] });
            } else if kind == BranchKind::With && self.peek().kind == Kind::With {
                self.next();
                let inner = self.control(BranchKind::With)?;
                else_list = Some(List { nodes: vec![parsed_node(inner)] });
            } else {
                let (l, n) = self.item_list()?;
                if !matches!(n, Parsed::End) {
                    return Err(self.errorf(format!("expected end; found {}", parsed_str(&n))));
                }
                else_list = Some(l);
            }
        }
        Ok(Parsed::Node(Node::Branch(Box::new(Branch { kind, pos: pipe.pos, pipe, list, else_list }))))
    }

    fn else_control(&mut self) -> PResult<Parsed> {
        let peek = self.peek_non_space();
        if peek.kind == Kind::If || peek.kind == Kind::With {
            return Ok(Parsed::Else);
        }
        self.expect(Kind::RightDelim, "else")?;
        Ok(Parsed::Else)
    }

    fn block_control(&mut self) -> PResult<Parsed> {
        let context = "block clause";
        let t = self.next_non_space();
        let name = self.parse_template_name(&t, context)?;
        let pipe = self.pipeline(context, Kind::RightDelim)?;
        // Go reports a bad terminator through the enclosing tree, whose last token is this `}}`.
        let outer_line = self.token[0].line;
        // The block body is a definition: fresh variables, no enclosing range.
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let saved_range = std::mem::replace(&mut self.range_depth, 0);
        let r = self.item_list();
        self.vars = saved_vars;
        self.range_depth = saved_range;
        let (root, end) = r?;
        if !matches!(end, Parsed::End) {
            return Err(ParseError(format!(
                "template: {}:{}: unexpected {} in {}",
                self.name,
                outer_line,
                parsed_str(&end),
                context
            )));
        }
        self.add(&name, root)?;
        Ok(Parsed::Node(Node::Template { pos: t.pos, name, pipe: Some(pipe) }))
    }

    fn template_control(&mut self) -> PResult<Parsed> {
        let context = "template clause";
        let t = self.next_non_space();
        let name = self.parse_template_name(&t, context)?;
        let mut pipe = None;
        if self.next_non_space().kind != Kind::RightDelim {
            self.backup();
            pipe = Some(self.pipeline(context, Kind::RightDelim)?);
        }
        Ok(Parsed::Node(Node::Template { pos: t.pos, name, pipe }))
    }

    fn parse_template_name(&self, t: &Item, context: &str) -> PResult<String> {
        match t.kind {
            Kind::String | Kind::RawString => unquote(&t.val).map_err(|e| self.errorf(e)),
            _ => Err(self.unexpected(t, context)),
        }
    }

    fn command(&mut self) -> PResult<Command> {
        let pos = self.peek_non_space().pos;
        let mut cmd = Command { pos, args: Vec::new() };
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                cmd.args.push(op);
            }
            let t = self.next();
            match t.kind {
                Kind::Space => continue,
                Kind::RightDelim | Kind::RightParen => self.backup(),
                Kind::Pipe => {}
                _ => return Err(self.unexpected(&t, "operand")),
            }
            break;
        }
        if cmd.args.is_empty() {
            return Err(self.errorf("empty command".into()));
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().kind == Kind::Field {
            let chain_pos = self.peek().pos;
            let mut fields = Vec::new();
            while self.peek().kind == Kind::Field {
                let f = self.next().val;
                fields.push(f[1..].to_string());
            }
            return Ok(Some(match node {
                Arg::Field(_, mut idents) => {
                    idents.extend(fields);
                    Arg::Field(chain_pos, idents)
                }
                Arg::Variable(_, mut idents) => {
                    idents.extend(fields);
                    Arg::Variable(chain_pos, idents)
                }
                Arg::Bool(..) | Arg::Str(..) | Arg::Number(_) | Arg::Nil(_) | Arg::Dot(_) => {
                    return Err(
                        self.errorf(format!("unexpected . after term {}", super::fmt::quote_go(&node.to_go_string())))
                    );
                }
                other => Arg::Chain(chain_pos, Box::new(other), fields),
            }));
        }
        Ok(Some(node))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let t = self.next_non_space();
        Ok(Some(match t.kind {
            Kind::Identifier => {
                if !(self.has_func)(&t.val) {
                    return Err(self.errorf(format!("function {} not defined", super::fmt::quote_go(&t.val))));
                }
                Arg::Identifier(t.pos, t.val)
            }
            Kind::Dot => Arg::Dot(t.pos),
            Kind::Nil => Arg::Nil(t.pos),
            Kind::Variable => {
                let idents: Vec<String> = t.val.split('.').map(str::to_string).collect();
                if !self.vars.iter().any(|v| *v == idents[0]) {
                    return Err(self.errorf(format!("undefined variable {}", super::fmt::quote_go(&idents[0]))));
                }
                Arg::Variable(t.pos, idents)
            }
            Kind::Field => Arg::Field(t.pos, vec![t.val[1..].to_string()]),
            Kind::Bool => Arg::Bool(t.pos, t.val == "true"),
            Kind::CharConstant | Kind::Complex | Kind::Number => {
                let n = new_number(t.pos, &t.val, t.kind).map_err(|e| self.errorf(e))?;
                Arg::Number(Box::new(n))
            }
            Kind::LeftParen => {
                if self.stack_depth >= MAX_STACK_DEPTH {
                    return Err(self.errorf("max expression depth exceeded".into()));
                }
                self.stack_depth += 1;
                let r = self.pipeline("parenthesized pipeline", Kind::RightParen);
                self.stack_depth -= 1;
                Arg::Pipe(Box::new(r?))
            }
            Kind::String | Kind::RawString => {
                let s = unquote(&t.val).map_err(|e| self.errorf(e))?;
                Arg::Str(t.pos, t.val, s)
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }
}

fn parsed_node(p: Parsed) -> Node {
    match p {
        Parsed::Node(n) => n,
        Parsed::End | Parsed::Else => Node::Comment,
    }
}

fn parsed_str(p: &Parsed) -> String {
    match p {
        Parsed::Node(n) => n.to_go_string(),
        Parsed::End => "{{end}}".into(),
        Parsed::Else => "{{else}}".into(),
    }
}

/// Go's `strconv.Unquote` for "…" and `…` literals; errors are `invalid syntax`.
pub(crate) fn unquote(s: &str) -> Result<String, String> {
    let bad = || "invalid syntax".to_string();
    let b = s.as_bytes();
    if b.len() < 2 {
        return Err(bad());
    }
    match b[0] {
        b'`' => {
            if b[b.len() - 1] != b'`' || s[1..s.len() - 1].contains('`') {
                return Err(bad());
            }
            Ok(s[1..s.len() - 1].replace('\r', ""))
        }
        b'"' => {
            if b[b.len() - 1] != b'"' {
                return Err(bad());
            }
            let inner = &s[1..s.len() - 1];
            let mut out = String::new();
            let mut rest = inner;
            while !rest.is_empty() {
                let (c, tail) = unquote_char(rest, '"').ok_or_else(bad)?;
                out.push(c);
                rest = tail;
            }
            Ok(out)
        }
        _ => Err(bad()),
    }
}

/// Go's `strconv.UnquoteChar`: one (possibly escaped) character and the rest.
pub(crate) fn unquote_char(s: &str, quote: char) -> Option<(char, &str)> {
    let mut chars = s.chars();
    let c = chars.next()?;
    if c == quote && (quote == '\'' || quote == '"') {
        return None;
    }
    if c != '\\' {
        return Some((c, chars.as_str()));
    }
    let e = chars.next()?;
    let rest = chars.as_str();
    let simple = match e {
        'a' => Some('\u{7}'),
        'b' => Some('\u{8}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\u{b}'),
        '\\' => Some('\\'),
        '\'' | '"' => {
            if e != quote {
                return None;
            }
            Some(e)
        }
        _ => None,
    };
    if let Some(c) = simple {
        return Some((c, rest));
    }
    let hex = |n: usize| -> Option<(char, &str)> {
        if rest.len() < n || !rest.is_char_boundary(n) {
            return None;
        }
        let v = u32::from_str_radix(&rest[..n], 16).ok()?;
        if !rest[..n].bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some((char::from_u32(v)?, &rest[n..]))
    };
    match e {
        'x' => hex(2),
        'u' => hex(4),
        'U' => hex(8),
        '0'..='7' => {
            let digits = format!("{e}{}", rest.get(..2)?);
            if !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                return None;
            }
            let v = u32::from_str_radix(&digits, 8).ok()?;
            if v > 255 {
                return None;
            }
            Some((char::from_u32(v)?, &rest[2..]))
        }
        _ => None,
    }
}

/// Go's `newNumber`.
fn new_number(pos: usize, text: &str, kind: Kind) -> Result<Number, String> {
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
            return Err(format!("integer overflow: {}", super::fmt::quote_go(text)));
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
        return Err(format!("illegal number syntax: {}", super::fmt::quote_go(text)));
    }
    Ok(n)
}

/// Go's `underscoreOK`: underscores only between digits or after a base prefix.
fn underscore_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut saw = '^';
    let mut i = 0;
    if !b.is_empty() && (b[0] == b'-' || b[0] == b'+') {
        i = 1;
    }
    let mut hex = false;
    if b.len() - i >= 2 && b[i] == b'0' && matches!(b[i + 1] | 0x20, b'b' | b'o' | b'x') {
        hex = (b[i + 1] | 0x20) == b'x';
        i += 2;
        saw = '0';
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = '0';
        } else if c == b'_' {
            if saw != '0' {
                return false;
            }
            saw = '_';
        } else {
            if saw == '_' {
                return false;
            }
            saw = '!';
        }
        i += 1;
    }
    saw != '_'
}

/// `strconv.ParseUint(s, 0, 64)`.
pub(crate) fn parse_go_uint(s: &str) -> Option<u64> {
    if s.is_empty() || s.starts_with(['+', '-']) {
        return None;
    }
    let (base, digits, prefixed) = if let Some(r) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (16, r, true)
    } else if let Some(r) = s.strip_prefix("0o").or_else(|| s.strip_prefix("0O")) {
        (8, r, true)
    } else if let Some(r) = s.strip_prefix("0b").or_else(|| s.strip_prefix("0B")) {
        (2, r, true)
    } else if s.len() > 1 && s.starts_with('0') {
        (8, &s[1..], true)
    } else {
        (10, s, false)
    };
    let _ = prefixed;
    if s.contains('_') && !underscore_ok(s) {
        return None;
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    if clean.is_empty() {
        return None;
    }
    u64::from_str_radix(&clean, base).ok()
}

/// `strconv.ParseInt(s, 0, 64)`.
pub(crate) fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if s.contains('_') && !underscore_ok(s) {
        return None;
    }
    let u = parse_go_uint(body)?;
    if neg {
        if u <= i64::MAX as u64 + 1 { Some((u as i128).wrapping_neg() as i64) } else { None }
    } else if u <= i64::MAX as u64 {
        Some(u as i64)
    } else {
        None
    }
}

/// `strconv.ParseFloat(s, 64)` for the syntaxes the lexer lets through (decimal and hex floats).
pub(crate) fn parse_go_float(s: &str) -> Option<f64> {
    if s.contains('_') && !underscore_ok(s) {
        return None;
    }
    let clean: String = s.chars().filter(|&c| c != '_').collect();
    let (neg, body) = match clean.as_bytes().first() {
        Some(b'-') => (true, &clean[1..]),
        Some(b'+') => (false, &clean[1..]),
        _ => (false, clean.as_str()),
    };
    let v = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        parse_hex_float(h)?
    } else {
        if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            return None;
        }
        let v: f64 = body.parse().ok()?;
        if v.is_infinite() {
            return None;
        }
        v
    };
    Some(if neg { -v } else { v })
}

fn parse_hex_float(h: &str) -> Option<f64> {
    let (mant, exp) = match h.find(['p', 'P']) {
        Some(i) => (&h[..i], h[i + 1..].parse::<i32>().ok()?),
        None => return None,
    };
    let (ip, fp) = match mant.find('.') {
        Some(i) => (&mant[..i], &mant[i + 1..]),
        None => (mant, ""),
    };
    if ip.is_empty() && fp.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in ip.chars() {
        v = v * 16.0 + c.to_digit(16)? as f64;
    }
    let mut scale = 1.0 / 16.0;
    for c in fp.chars() {
        v += c.to_digit(16)? as f64 * scale;
        scale /= 16.0;
    }
    Some(v * 2f64.powi(exp))
}
