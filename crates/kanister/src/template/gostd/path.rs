//! Go's `path` package (slash-separated paths): `Clean`, `Base`, `Dir`, `Ext`. A leaf:
//! must not import anything of the template engine.

/// Go's `path.Clean`.
pub fn path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if matches!(parts.last(), Some(l) if *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Go's `path.Join`: the non-empty elements joined by `/`, then cleaned; empty when all are.
pub fn path_join(elems: &[&str]) -> String {
    let joined = elems.iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join("/");
    if joined.is_empty() { joined } else { path_clean(&joined) }
}

/// `path.Base`.
pub(crate) fn path_base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

/// `path.Dir`.
pub(crate) fn path_dir(p: &str) -> String {
    let i = p.rfind('/').map_or(0, |i| i + 1);
    path_clean(&p[..i])
}

/// `path.Ext`.
pub(crate) fn path_ext(p: &str) -> String {
    for (i, c) in p.char_indices().rev() {
        if c == '/' {
            break;
        }
        if c == '.' {
            return p[i..].to_string();
        }
    }
    String::new()
}
