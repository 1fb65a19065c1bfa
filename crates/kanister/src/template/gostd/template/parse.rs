//! The parser of Go's `text/template/parse`: the same grammar, node positions, error texts
//! (`template: config:1: unexpected EOF`) and parse-time checks (undefined functions and
//! variables, `{{break}}` outside `{{range}}`, duplicate definitions). Whether a function
//! exists is asked through a callback: the parser must not import the function table or
//! the executor.

use super::lex::{Item, Kind, Lexer};
use super::node::{Arg, Branch, BranchKind, Command, List, Node, Pipe, new_number};
use crate::template::gostd::strconv::{quote_go, unquote};
use std::collections::BTreeMap;

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
                    return Err(self.errorf(format!("template: multiple definition of template {}", quote_go(name))));
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
                    return Err(self.errorf(format!("unexpected . after term {}", quote_go(&node.to_go_string()))));
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
                    return Err(self.errorf(format!("function {} not defined", quote_go(&t.val))));
                }
                Arg::Identifier(t.pos, t.val)
            }
            Kind::Dot => Arg::Dot(t.pos),
            Kind::Nil => Arg::Nil(t.pos),
            Kind::Variable => {
                let idents: Vec<String> = t.val.split('.').map(str::to_string).collect();
                if !self.vars.iter().any(|v| *v == idents[0]) {
                    return Err(self.errorf(format!("undefined variable {}", quote_go(&idents[0]))));
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
