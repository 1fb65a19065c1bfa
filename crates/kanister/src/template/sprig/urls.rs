//! sprig's url.go: `urlParse` (a dict of the URL's parts) and `urlJoin` (a URL from such a
//! dict), on the `gostd::url` port.
//!
//! Registers into [`crate::template::registry`]; must not import the executor, the assembled
//! table or the other sprig files (what they share is in [`super::helpers`]).

use super::helpers::{NIL_DEREF, Res, plain_map, s};
use crate::template::gostd::url::{Url, hostname, parse_url, user_string};
use crate::template::registry::{Registry, Ty::*};
use crate::template::value::kind_name;
use gotmpl::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Registers url.go's functions.
pub(super) fn register(r: &mut Registry) {
    r.plain("urlParse", &[Str], None, |a| url_parse(s(&a[0])));
    r.plain("urlJoin", &[MapSA], None, |a| url_join(&plain_map(&a[0])));
}

/// sprig's `urlParse`.
fn url_parse(v: &str) -> Res {
    let u = parse_url(v).map_err(|e| format!("unable to parse url: {e}"))?;
    let mut d: BTreeMap<Arc<str>, Value> = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        d.insert(Arc::from(k), Value::from(v));
    };
    put("scheme", u.scheme.clone());
    put("host", u.host.clone());
    put("hostname", hostname(&u.host));
    put("path", u.path.clone());
    put("query", u.raw_query.clone());
    put("opaque", u.opaque.clone());
    put("fragment", u.fragment.clone());
    put("userinfo", u.user.as_ref().map(user_string).unwrap_or_default());
    Ok(Value::Map(Arc::new(d)))
}

/// sprig's `urlJoin`: the dict's parts as `URL.String()` writes them.
fn url_join(d: &BTreeMap<Arc<str>, Value>) -> Res {
    let get = |k: &str| dict_get_or_empty(d, k);
    let mut u = Url {
        scheme: get("scheme")?,
        host: get("host")?,
        path: get("path")?,
        raw_query: get("query")?,
        opaque: get("opaque")?,
        fragment: get("fragment")?,
        user: None,
        force_query: false,
        omit_host: false,
    };
    let userinfo = get("userinfo")?;
    if !userinfo.is_empty() {
        let t = parse_url(&format!("proto://{userinfo}@host"))
            .map_err(|e| format!("unable to parse userinfo in dict: {e}"))?;
        u.user = t.user;
    }
    Ok(Value::from(u.to_go_string()))
}

/// `dictGetOrEmpty` for urlJoin.
fn dict_get_or_empty(d: &BTreeMap<Arc<str>, Value>, key: &str) -> Result<String, String> {
    match d.get(key) {
        None => Ok(String::new()),
        Some(Value::String(x)) => Ok(x.to_string()),
        Some(Value::Nil) => Err(NIL_DEREF.into()),
        Some(other) => {
            Err(format!("unable to parse {key} key, must be of type string, but {} found", kind_name(other)))
        }
    }
}
