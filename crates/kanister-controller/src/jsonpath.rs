//! The subset of kubectl's JSONPath that Kanister's `Wait` conditions use
//! (`{$.status.health}`, `{.status.conditions[?(@.type=="Ready")].status}`,
//! `{.items[0].metadata.name}`, `{.spec.containers[*].name}`), printed as kubectl prints it:
//! strings raw, several results separated by spaces, maps and lists as JSON.
//!
//! Also Go's `time.ParseDuration`, for `Wait`/`WaitV2` timeouts. Pure functions.

use serde_json::Value as Json;

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(i64),
    All,
    Filter { path: Vec<String>, op: Option<(String, Json)> },
}

fn parse(expr: &str) -> Result<Vec<Step>, String> {
    let s = expr.trim();
    let s = s.strip_prefix('{').and_then(|x| x.strip_suffix('}')).unwrap_or(s).trim();
    let s = s.strip_prefix('$').unwrap_or(s);
    let b = s.as_bytes();
    let mut i = 0;
    let mut steps = Vec::new();
    while i < b.len() {
        match b[i] {
            b'.' => {
                i += 1;
                let start = i;
                while i < b.len() && b[i] != b'.' && b[i] != b'[' {
                    i += 1;
                }
                if i > start {
                    steps.push(Step::Field(s[start..i].to_string()));
                }
            }
            b'[' => {
                let end = s[i..].find(']').map(|e| i + e).ok_or_else(|| format!("unterminated [ in {expr}"))?;
                let inner = s[i + 1..end].trim();
                i = end + 1;
                if inner == "*" || inner.is_empty() {
                    steps.push(Step::All);
                } else if let Some(f) = inner.strip_prefix("?(").and_then(|x| x.strip_suffix(')')) {
                    steps.push(parse_filter(f)?);
                } else if let Ok(n) = inner.parse::<i64>() {
                    steps.push(Step::Index(n));
                } else {
                    steps.push(Step::Field(inner.trim_matches(|c| c == '\'' || c == '"').to_string()));
                }
            }
            _ => {
                let start = i;
                while i < b.len() && b[i] != b'.' && b[i] != b'[' {
                    i += 1;
                }
                steps.push(Step::Field(s[start..i].to_string()));
            }
        }
    }
    Ok(steps)
}

fn parse_filter(f: &str) -> Result<Step, String> {
    let (lhs, op) = match f.split_once("==") {
        Some((l, r)) => {
            let r = r.trim();
            let v = if let Some(q) = r.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
                Json::String(q.into())
            } else if let Some(q) = r.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')) {
                Json::String(q.into())
            } else {
                serde_json::from_str(r).unwrap_or(Json::String(r.into()))
            };
            (l.trim(), Some(("==".to_string(), v)))
        }
        None => (f.trim(), None),
    };
    let path = lhs.strip_prefix('@').ok_or_else(|| format!("unsupported filter {f}"))?;
    let path = path.split('.').filter(|p| !p.is_empty()).map(String::from).collect();
    Ok(Step::Filter { path, op })
}

fn eval<'a>(roots: Vec<&'a Json>, steps: &[Step]) -> Vec<&'a Json> {
    let mut cur = roots;
    for st in steps {
        let mut next = Vec::new();
        for v in cur {
            match st {
                Step::Field(f) => {
                    if let Some(x) = v.get(f) {
                        next.push(x);
                    }
                }
                Step::Index(n) => {
                    if let Some(a) = v.as_array() {
                        let i = if *n < 0 { a.len() as i64 + n } else { *n };
                        if let Some(x) = usize::try_from(i).ok().and_then(|i| a.get(i)) {
                            next.push(x);
                        }
                    }
                }
                Step::All => match v {
                    Json::Array(a) => next.extend(a.iter()),
                    Json::Object(m) => next.extend(m.values()),
                    _ => {}
                },
                Step::Filter { path, op } => {
                    if let Some(a) = v.as_array() {
                        for item in a {
                            let got = path.iter().try_fold(item, |acc, k| acc.get(k));
                            let keep = match (got, op) {
                                (Some(g), Some((_, want))) => g == want,
                                (Some(g), None) => !g.is_null(),
                                _ => false,
                            };
                            if keep {
                                next.push(item);
                            }
                        }
                    }
                }
            }
        }
        cur = next;
    }
    cur
}

fn print(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

/// Resolve `expr` against `obj` and print the results as kubectl does.
pub fn resolve(obj: &Json, expr: &str) -> Result<String, String> {
    let steps = parse(expr)?;
    let found = eval(vec![obj], &steps);
    if found.is_empty() {
        let last = steps.iter().rev().find_map(|s| if let Step::Field(f) = s { Some(f.clone()) } else { None });
        return Err(format!("{} is not found", last.unwrap_or_else(|| expr.to_string())));
    }
    Ok(found.into_iter().map(print).collect::<Vec<_>>().join(" "))
}

/// Replace every `{$…}` of a `Wait` condition with its value in `obj` (upstream's
/// `FindJsonpathArgs` + `ResolveJsonpathToString`).
pub fn substitute(cond: &str, obj: &Json) -> Result<String, String> {
    let mut out = String::with_capacity(cond.len());
    let mut rest = cond;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let trimmed = after.trim_start();
        if !trimmed.starts_with('$') {
            out.push_str(&rest[..open + 1]);
            rest = after;
            continue;
        }
        let Some(close) = after.find('}') else {
            out.push_str(rest);
            return Ok(out);
        };
        let body = trimmed[1..close - (after.len() - trimmed.len())].trim();
        out.push_str(&rest[..open]);
        out.push_str(&resolve(obj, &format!("{{{body}}}"))?);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Go's `time.ParseDuration` (`300ms`, `1.5h`, `2h45m`, `-1m`; units ns us µs ms s m h).
pub fn parse_go_duration(s: &str) -> Result<std::time::Duration, String> {
    let err = || format!("time: invalid duration {s:?}");
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(err());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if n == 0 {
            return Err(err());
        }
        let num: f64 = rest[..n].parse().map_err(|_| err())?;
        rest = &rest[n..];
        let u = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(format!("time: missing unit in duration {s:?}")),
            other => return Err(format!("time: unknown unit {other:?} in duration {s:?}")),
        };
        total += num * unit;
        rest = &rest[u..];
    }
    if neg {
        return Ok(std::time::Duration::ZERO);
    }
    Ok(std::time::Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kubectl_jsonpath_subset() {
        let o = json!({"status": {"health": "green", "replicas": 2,
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "Available", "status": "False"}],
            "containerStatuses": [{"ready": true}, {"ready": false}]}});
        assert_eq!(resolve(&o, "{.status.health}").unwrap(), "green");
        assert_eq!(resolve(&o, "{$.status.replicas}").unwrap(), "2");
        assert_eq!(resolve(&o, "{.status.conditions[?(@.type==\"Available\")].status}").unwrap(), "False");
        assert_eq!(resolve(&o, "{.status.containerStatuses[*].ready}").unwrap(), "true false");
        assert_eq!(resolve(&o, "{.status.containerStatuses[].ready}").unwrap(), "true false");
        assert_eq!(resolve(&o, "{.status.conditions[0].type}").unwrap(), "Ready");
        assert_eq!(resolve(&o, "{.status.nope}").unwrap_err(), "nope is not found");
        assert_eq!(
            substitute(
                "{{ if or (eq \"{ $.status.health }\" \"green\") (eq \"{$.status.health}\" \"yellow\")}}true{{ end }}",
                &o
            )
            .unwrap(),
            "{{ if or (eq \"green\" \"green\") (eq \"green\" \"yellow\")}}true{{ end }}"
        );
    }

    #[test]
    fn go_durations() {
        use std::time::Duration;
        assert_eq!(parse_go_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_go_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_go_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_go_duration("240s").unwrap(), Duration::from_secs(240));
        assert!(parse_go_duration("5").unwrap_err().contains("missing unit"));
        assert!(parse_go_duration("x").is_err());
    }
}
