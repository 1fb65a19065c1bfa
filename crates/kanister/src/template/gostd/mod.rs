//! Ports of Go standard-library behaviour (text/template's lexer, parser and executor,
//! `fmt`, `strconv`, `time`, `net/url`, `encoding/json`, `encoding/base64`/`base32`,
//! `regexp`, `strings`, `unicode`, `path`, `os.ExpandEnv`, `crypto/rand`), kept faithful to
//! Go, its quirks and its error texts included; not Kanister code.
//!
//! Everything here but [`template`] is a library the template engine calls: none of it
//! imports the executor, the function table, sprig or Kanister's replacements. [`fmt`]
//! and [`json`] print template values, so they (and only they, with [`template`]) see
//! `crate::template::value`. Within `gostd` the leaves are [`unicode`], [`time`],
//! [`path`], [`os`], [`rand`] and [`encoding`]; [`strconv`] builds on [`unicode`], and
//! [`strings`], [`regexp`], [`url`], [`fmt`] and [`json`] on those two.

pub(crate) mod encoding;
pub(crate) mod fmt;
pub(crate) mod json;
pub(crate) mod os;
pub(crate) mod path;
pub(crate) mod rand;
pub(crate) mod regexp;
pub(crate) mod strconv;
pub(crate) mod strings;
pub(crate) mod template;
pub(crate) mod time;
pub(crate) mod unicode;
pub(crate) mod url;
