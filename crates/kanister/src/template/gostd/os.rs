//! Go's `os.ExpandEnv` (`$VAR`, `${VAR}`, the shell's special names, Go's handling of bad
//! syntax). A leaf: must not import anything of the template engine.

/// `os.ExpandEnv`.
pub(crate) fn expand_env(x: &str) -> String {
    let b = x.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() {
            out.push_str(&x[last..i]);
            let rest = &x[i + 1..];
            let (name, w) = shell_name(rest);
            if name.is_none() && w > 0 {
                // bad syntax like "${}": eaten
            } else if let Some(nm) = name {
                out.push_str(&std::env::var(nm).unwrap_or_default());
            } else {
                out.push('$');
            }
            i += 1 + w;
            last = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&x[last..]);
    out
}

/// `os.getShellName`: the variable name after `$` and the bytes consumed.
fn shell_name(s: &str) -> (Option<&str>, usize) {
    let b = s.as_bytes();
    if b[0] == b'{' {
        if b.len() > 2 && is_shell_special(b[1]) && b[2] == b'}' {
            return (Some(&s[1..2]), 3);
        }
        for i in 1..b.len() {
            if b[i] == b'}' {
                if i == 1 {
                    return (None, 2);
                }
                return (Some(&s[1..i]), i + 1);
            }
        }
        return (None, 1);
    }
    if is_shell_special(b[0]) {
        return (Some(&s[0..1]), 1);
    }
    let n = b.iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'_').count();
    if n == 0 { (None, 0) } else { (Some(&s[..n]), n) }
}

fn is_shell_special(c: u8) -> bool {
    matches!(c, b'*' | b'#' | b'$' | b'@' | b'!' | b'?' | b'-') || c.is_ascii_digit()
}
