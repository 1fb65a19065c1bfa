//! Go's `text/template` and `text/template/parse`, ported: the lexer ([`lex`]), the parse
//! tree ([`node`]), the parser ([`parse`]), the executor ([`exec`]) and the builtins
//! ([`funcs`]).
//!
//! Layering, bottom up: `lex` → `node` → `parse`; `exec` uses `node` and finds functions in
//! the assembled table (`crate::template::table`), which `funcs` registers into. Nothing in
//! here imports sprig.

pub(crate) mod exec;
pub(crate) mod funcs;
pub(crate) mod lex;
pub(crate) mod node;
pub(crate) mod parse;
