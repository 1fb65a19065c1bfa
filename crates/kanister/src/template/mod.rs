//! Go `text/template` as Kanister runs it: `template.New("config")
//! .Option("missingkey=error").Funcs(ksprig.TxtFuncMap()).Parse(arg)` for every string arg.
//!
//! * **Syntax** is Go's, token for token: this module has its own port of Go's lexer and
//!   parser (positions, trim markers `{{-`/`-}}`, comments, `define`/`block`/`template`,
//!   `if`/`else if`/`with`/`else with`/`range`/`break`/`continue`, variables, pipelines,
//!   parenthesised pipelines, chained fields) and reports syntax errors with Go's text
//!   (`template: config:1: unexpected EOF`), including undefined functions
//!   (`template: config:1: function "nope" not defined`) and variables.
//! * **Execution** follows Go's `exec.go`: the same argument typing (`expected string; found
//!   3`, `wrong type for value; expected string; got int`), the same `missingkey=error`
//!   errors with Go's location and context (`template: config:1:3: executing "config" at
//!   <.Foo>: map has no entry for key "Foo"`), Go's `fmt` printing of values (`map[a:1]`,
//!   `[x y]`, `1e+06`, `<no value>`) and `printf` verbs.
//! * **Functions**: Go's builtins (`and call eq ge gt html index js le len lt ne not or print
//!   printf println urlquery`) and sprig v2.22.0's `TxtFuncMap` (Kanister pins sprig v2.22.0),
//!   with Kanister's FIPS replacements (`derivePassword` errors; `genPrivateKey` errors except
//!   for `rsa`/`ecdsa`/`ed25519`). sprig's `slice` replaces Go's builtin, as in Kanister.
//!
//! Data is a [`Value`] (re-exported from the `gotmpl` crate; only the value type comes from
//! there: gotmpl's parser accepts templates Go rejects, e.g. an `{{if}}` without `{{end}}`,
//! and its run-time errors carry no position). Go values with no `Value` variant (structs,
//! `time.Time`, `[]byte`, typed maps, typed nil pointers) are maps with one reserved key that
//! every operation hides; build them with [`go_struct`], [`go_struct_named`], [`go_map`],
//! [`go_bytes`] and [`go_nil`]. `toDate`/`now` produce time values; a time prints like Go's
//! `Time.String()` (`2026-11-23 10:00:00.123456789 +0000 UTC`), and `.Unix`, `.Year`,
//! `.Format "…"`, … work on it. Go's `time.Local` is UTC, as in the Kanister controller's
//! container; named zones (`dateInZone`) come from the system tz database.
//!
//! Known differences from Go: integer widths are not tracked (an `int64` result passed to an
//! `int` parameter is accepted where Go refuses it); `set`/`unset`/`merge` return a new map
//! and update the variable they were called on (`{{ $_ := set $d "k" 1 }}`) rather than
//! mutating every alias of a shared Go map; maps not built with [`go_map`] are
//! `map[string]interface{}`; nested pointers print as `{…}` (Go prints an address);
//! complex numbers are rejected; `genPrivateKey rsa|ecdsa`, `genCA`, `genSelfSignedCert`,
//! `genSignedCert` and `buildCustomCert` error instead of generating keys; `keys`/`values`
//! come out sorted (Go's order is random); `now` prints without Go's monotonic-clock
//! suffix; regexps run on the `regex` crate (RE2 syntax like Go's, `\d \w \s \b` kept
//! ASCII as in Go; only the common compile errors use Go's wording); `unicode.IsPrint` is
//! approximated; parentheses and `if`/`range`/`with` blocks nest at most 300 deep in the
//! source, template calls plus blocks 1000 deep at run time (Go allows 10000 and 100000:
//! its stacks grow).
//!
//! Layout, bottom up: a module imports only modules listed before it (inside `gostd`,
//! `golibs` and `sprig`, as their own docs say), so the imports form a DAG:
//!
//! 1. `gostd`'s libraries: ports of Go's standard library, kept faithful to Go (`unicode`,
//!    `strconv`, `strings`, `path`, `os`, `rand`, `encoding`, `regexp`, `time`, `net/url`),
//!    and `golibs` on them: the third-party Go libraries sprig calls (goutils, xstrings,
//!    Masterminds/semver v1.5.0).
//! 2. `value`: Go values carried in a [`Value`]; then `gostd`'s `fmt` and `encoding/json`,
//!    which print them; `ev`: values during execution, as `reflect.Value` sees them;
//!    `registry`: a function's Go signature and implementation, and the registry
//!    functions are added to.
//! 3. The function files: `gostd::template::funcs` (Go's builtins) and `sprig` (sprig
//!    v2.22.0, one file per sprig source file, and Kanister's `ksprig` replacements).
//! 4. `table`: the assembled function table, built once.
//! 5. `gostd::template`'s lexer, parse tree and parser (which ask "is this a function?"
//!    through a callback) and its executor (which looks functions up in `table`).
//! 6. This module, the crate's API.
//!
//! Nothing but this module and the executor imports `table`; nothing imports the executor
//! but this module.

mod ev;
mod golibs;
mod gostd;
mod registry;
mod sprig;
mod table;
mod value;

#[cfg(test)]
mod tests;

/// Go's `path.Clean` and `path.Join`, for callers that must build paths exactly as upstream.
pub use gostd::path::{path_clean, path_join};

use gostd::template::{exec, node, parse};

pub use gostd::template::exec::MissingKey;
pub use gotmpl::Value;

/// The name Kanister gives every template (`template.New("config")`).
pub const TEMPLATE_NAME: &str = "config";

/// Whether a [`TemplateError`] came from parsing or from execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A syntax error, an undefined function or variable: Go's `Parse` failed.
    Parse,
    /// Go's `Execute` failed (missing key, wrong argument type, a function's error, …).
    Exec,
}

/// A template error, with Go's exact text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    message: String,
    kind: ErrorKind,
}

impl TemplateError {
    /// Go's error text, e.g. `template: config:1:3: executing "config" at <.Foo>: map has
    /// no entry for key "Foo"`.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Parse or execution error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// For `missingkey=error` failures, the key as Kanister extracts it (everything after the
    /// last `map has no entry for key `, quotes trimmed): upstream then reports
    /// `Failed to render template: "<key>" not found`.
    pub fn undefined_key(&self) -> Option<&str> {
        const MARK: &str = "map has no entry for key ";
        let i = self.message.rfind(MARK)?;
        Some(self.message[i + MARK.len()..].trim_matches('"'))
    }
}

fn parse_config(src: &str) -> Result<std::collections::BTreeMap<String, node::List>, TemplateError> {
    parse::parse(TEMPLATE_NAME, src, &|name| table::lookup(name).is_some())
        .map_err(|e| TemplateError { message: e.0, kind: ErrorKind::Parse })
}

/// Renders `src` as Kanister does: Go text/template semantics, `missingkey=error`, Go's
/// builtins and sprig v2.22's functions (FIPS-restricted as in Kanister).
pub fn render(src: &str, data: &Value) -> Result<String, TemplateError> {
    render_with(src, data, MissingKey::Error)
}

/// [`render`] with another `missingkey` option (Kanister's `Wait` conditions use `zero`).
pub fn render_with(src: &str, data: &Value, missing_key: MissingKey) -> Result<String, TemplateError> {
    let trees = parse_config(src)?;
    exec::execute(&trees, src, TEMPLATE_NAME, data, missing_key)
        .map_err(|message| TemplateError { message, kind: ErrorKind::Exec })
}

/// Parses `src` without executing it, reporting what Go's `Parse` reports (syntax errors,
/// undefined functions and variables, `{{break}}` outside `{{range}}`, …).
pub fn check(src: &str) -> Result<(), TemplateError> {
    parse_config(src).map(|_| ())
}

/// Converts JSON to a [`Value`]: objects become maps (iterated in Go's sorted-key order),
/// integers [`Value::Int`] (or [`Value::Uint`] above `i64::MAX`), other numbers
/// [`Value::Float`], `null` [`Value::Nil`].
pub fn from_json(v: &serde_json::Value) -> Value {
    value::from_json(v)
}

/// A Go struct value: `.Field` reaches the fields by their Go names; `toJson` and
/// `toPrettyJson` emit `json` (the struct's own `encoding/json` form, e.g.
/// `{"type":"s3Compliant",…}`) with `<`, `>`, `&` escaped as Go does; printing shows
/// `{v1 v2 …}` in field order; `range`, `len` and `index` refuse it as Go does. A field
/// holding [`Value::Nil`] behaves as a nil pointer (see [`go_nil`] to name its type).
pub fn go_struct(fields: Vec<(String, Value)>, json: String) -> Value {
    value::make_struct("", fields, json)
}

/// [`go_struct`] with its Go type name (`param.Profile`, or `*param.Profile` for a pointer),
/// which error messages and `typeOf` show. Without a name they say `struct`.
pub fn go_struct_named(type_name: &str, fields: Vec<(String, Value)>, json: String) -> Value {
    value::make_struct(type_name, fields, json)
}

/// A nil pointer of the named Go type (e.g. `*param.StatefulSetParams`): false in `if`,
/// printed `<nil>`, `null` in JSON, and `.Field` on it fails with Go's
/// `nil pointer evaluating *param.StatefulSetParams.Field`.
pub fn go_nil(type_name: &str) -> Value {
    value::make_typed_nil(type_name)
}

/// A map of a named Go map type, e.g. `map[string]string` for `.Options` or
/// `map[string][]uint8` for a Secret's `.Data`: like a plain map, but Go's type rules apply
/// (sprig's `hasKey`/`set`/`keys`/… refuse it as they need `map[string]interface {}`,
/// `index` of a missing key gives the element type's zero value, e.g. `""`).
pub fn go_map(type_name: &str, entries: Vec<(String, Value)>) -> Value {
    value::make_typed_map(type_name, entries)
}

/// A Go `[]byte` (e.g. a Secret's `.Data` values): `toString` gives the text, printing gives
/// `[112 97 …]` as Go does, `toJson` base64, `len` the byte count.
pub fn go_bytes(bytes: &[u8]) -> Value {
    value::make_bytes(bytes)
}

/// The names of all template functions (Go builtins and sprig), sorted.
pub fn function_names() -> Vec<&'static str> {
    table::names()
}
