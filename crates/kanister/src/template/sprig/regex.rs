//! sprig's regex.go: `regexMatch`, `regexFind`, `regexFindAll`, `regexReplaceAll`,
//! `regexReplaceAllLiteral`, `regexSplit`, on the `gostd::regexp` port (`regexMatch`
//! swallows compile errors, the others report them).
//!
//! Registers into [`crate::template::registry`]; must not import the executor, the assembled
//! table or the other sprig files (what they share is in [`super::helpers`]).

use super::helpers::{n, s, str_v, strs};
use crate::template::gostd::regexp::{compile_regex, find_all};
use crate::template::registry::{Registry, Ty::*};
use gotmpl::Value;

/// Registers regex.go's functions.
pub(super) fn register(r: &mut Registry) {
    r.plain("regexMatch", &[Str, Str], None, |a| {
        Ok(Value::Bool(compile_regex(s(&a[0])).map(|r| r.is_match(s(&a[1]))).unwrap_or(false)))
    });
    r.plain("regexFindAll", &[Str, Str, Int], None, |a| {
        let r = compile_regex(s(&a[0]))?;
        let x = s(&a[1]);
        Ok(strs(find_all(&r, x, n(&a[2])).into_iter().map(|(i, j)| x[i..j].to_string())))
    });
    r.plain("regexFind", &[Str, Str], None, |a| {
        let r = compile_regex(s(&a[0]))?;
        str_v(r.find(s(&a[1])).map(|m| m.as_str().to_string()).unwrap_or_default())
    });
    r.plain("regexReplaceAll", &[Str, Str, Str], None, |a| {
        let r = compile_regex(s(&a[0]))?;
        str_v(r.replace_all(s(&a[1]), s(&a[2])).into_owned())
    });
    r.plain("regexReplaceAllLiteral", &[Str, Str, Str], None, |a| {
        let r = compile_regex(s(&a[0]))?;
        str_v(r.replace_all(s(&a[1]), regex::NoExpand(s(&a[2]))).into_owned())
    });
    r.plain("regexSplit", &[Str, Str, Int], None, |a| {
        let r = compile_regex(s(&a[0]))?;
        let (x, cnt) = (s(&a[1]), n(&a[2]));
        if cnt == 0 {
            return Ok(Value::List(Vec::new().into()));
        }
        if !s(&a[0]).is_empty() && x.is_empty() {
            return Ok(strs(vec![String::new()]));
        }
        let mut out: Vec<String> = Vec::new();
        let (mut beg, mut end) = (0usize, 0usize);
        for (i, j) in find_all(&r, x, cnt) {
            if cnt > 0 && out.len() as i64 == cnt - 1 {
                break;
            }
            end = i;
            if j != 0 {
                out.push(x[beg..end].to_string());
            }
            beg = j;
        }
        if end != x.len() {
            out.push(x[beg..].to_string());
        }
        Ok(strs(out))
    });
}
