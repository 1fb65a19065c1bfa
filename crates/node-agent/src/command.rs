//! Which program a container runs: `command` + `args` as the kubelet combines them (with
//! `$(VAR)` expansion), and what an image without a command runs here (`--image-command`, else
//! `sleep infinity`, like Kanister's tools image whose CMD is `tail -f /dev/null`). Pure: no I/O.

/// A default command for images whose name starts with `prefix`, run with `sh -c`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageCommand {
    /// Image name prefix (`ghcr.io/kanisterio/kanister-tools`, or `postgres:`).
    pub prefix: String,
    /// Shell command line.
    pub command: String,
}

impl std::str::FromStr for ImageCommand {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once('=') {
            Some((p, c)) if !p.is_empty() && !c.trim().is_empty() => {
                Ok(ImageCommand { prefix: p.to_string(), command: c.to_string() })
            }
            _ => Err(format!("expected IMAGE_PREFIX=COMMAND, got {s:?}")),
        }
    }
}

/// The argv of a container: `command` + `args`; `args` alone when `command` is empty (there is
/// no image entrypoint here); with neither, the longest matching `--image-command` as
/// `sh -c COMMAND`, else `sleep infinity`. `$(VAR)` references are expanded with `lookup`.
pub fn select(
    command: &[String],
    args: &[String],
    image: &str,
    defaults: &[ImageCommand],
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Vec<String> {
    let argv: Vec<String> = if !command.is_empty() {
        command.iter().chain(args).cloned().collect()
    } else if !args.is_empty() {
        args.to_vec()
    } else if let Some(d) = defaults.iter().filter(|d| image.starts_with(&d.prefix)).max_by_key(|d| d.prefix.len()) {
        return vec!["/bin/sh".into(), "-c".into(), d.command.clone()];
    } else {
        return vec!["sleep".into(), "infinity".into()];
    };
    argv.iter().map(|a| expand(a, lookup)).collect()
}

/// The kubelet's `$(VAR)` expansion: `$(NAME)` becomes the value when NAME is defined and is kept
/// as written otherwise; `$$` is an escaped `$`.
pub fn expand(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let b = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut i = 0;
    let mut lit = 0; // start of the pending literal run
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() {
            if b[i + 1] == b'$' {
                out.push_str(&input[lit..i + 1]);
                i += 2;
                lit = i;
                continue;
            }
            if b[i + 1] == b'('
                && let Some(end) = input[i + 2..].find(')')
            {
                let name = &input[i + 2..i + 2 + end];
                out.push_str(&input[lit..i]);
                match lookup(name) {
                    Some(v) => out.push_str(&v),
                    None => out.push_str(&input[i..i + 3 + end]),
                }
                i += 3 + end;
                lit = i;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&input[lit..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }
    fn none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn command_and_args() {
        assert_eq!(select(&s(&["sh", "-c"]), &s(&["echo hi"]), "x", &[], &none), s(&["sh", "-c", "echo hi"]));
        assert_eq!(select(&[], &s(&["kando", "version"]), "x", &[], &none), s(&["kando", "version"]));
        assert_eq!(select(&[], &[], "ghcr.io/kanisterio/kanister-tools:0.1", &[], &none), s(&["sleep", "infinity"]));
    }

    #[test]
    fn image_defaults_longest_prefix() {
        let d: Vec<ImageCommand> = vec!["postgres=pg-a".parse().unwrap(), "postgres:15=pg-b run".parse().unwrap()];
        assert_eq!(select(&[], &[], "postgres:15.4", &d, &none), s(&["/bin/sh", "-c", "pg-b run"]));
        assert_eq!(select(&[], &[], "postgres:16", &d, &none), s(&["/bin/sh", "-c", "pg-a"]));
        assert_eq!(select(&[], &[], "mysql", &d, &none), s(&["sleep", "infinity"]));
        assert!("nocommand".parse::<ImageCommand>().is_err());
        assert!("=x".parse::<ImageCommand>().is_err());
    }

    #[test]
    fn expansion() {
        let l = |n: &str| (n == "POD").then(|| "web-0".to_string());
        assert_eq!(expand("echo $(POD) $(MISSING) $$(POD) $ $(", &l), "echo web-0 $(MISSING) $(POD) $ $(");
        assert_eq!(expand("$(POD)$(POD)", &l), "web-0web-0");
        assert_eq!(expand("ünïcode $(POD)", &l), "ünïcode web-0");
        assert_eq!(select(&s(&["echo", "$(POD)"]), &[], "x", &[], &l), s(&["echo", "web-0"]));
    }
}
