//! Reading a phase's rendered arguments the way upstream's `Arg`/`OptArg` do: mapstructure's
//! `WeakDecode`, so `"3"` is an int, `"true"` a bool, a number a string, and a single value
//! a one-element list. Error texts are upstream's (`Failed to decode arg `x`: …`,
//! `Argument missing x`).
//!
//! Pure functions over JSON values; no cluster access.

use serde_json::Value as Json;
use std::collections::BTreeMap;

/// A phase's rendered arguments.
pub type Args = BTreeMap<String, Json>;

fn decode_err(name: &str, msg: impl std::fmt::Display) -> String {
    format!("Failed to decode arg `{name}`: {msg}")
}

fn missing(name: &str) -> String {
    format!("Argument missing {name}")
}

fn weak_string(v: &Json) -> Option<String> {
    Some(match v {
        Json::String(s) => s.clone(),
        Json::Bool(b) => if *b { "1" } else { "0" }.to_string(),
        Json::Number(n) => n.to_string(),
        Json::Null => String::new(),
        _ => return None,
    })
}

/// A required string.
pub fn string(args: &Args, name: &str) -> Result<String, String> {
    let v = args.get(name).ok_or_else(|| missing(name))?;
    weak_string(v)
        .ok_or_else(|| decode_err(name, format!("'' expected type 'string', got unconvertible type '{}'", go_type(v))))
}

/// An optional string (`default` when absent).
pub fn opt_string(args: &Args, name: &str, default: &str) -> Result<String, String> {
    if args.contains_key(name) { string(args, name) } else { Ok(default.to_string()) }
}

/// A required list of strings; a single value becomes a one-element list.
pub fn strings(args: &Args, name: &str) -> Result<Vec<String>, String> {
    let v = args.get(name).ok_or_else(|| missing(name))?;
    match v {
        Json::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, x)| {
                weak_string(x).ok_or_else(|| {
                    decode_err(name, format!("'[{i}]' expected type 'string', got unconvertible type '{}'", go_type(x)))
                })
            })
            .collect(),
        Json::Null => Ok(Vec::new()),
        other => weak_string(other).map(|s| vec![s]).ok_or_else(|| {
            decode_err(name, format!("'' expected type 'string', got unconvertible type '{}'", go_type(other)))
        }),
    }
}

/// An optional integer; strings are parsed (Go's `strconv.ParseInt(s, 0, 0)`: decimal, `0x`,
/// `0o`, `0b`), bools are 0/1, floats are truncated.
pub fn opt_int(args: &Args, name: &str, default: i64) -> Result<i64, String> {
    match args.get(name) {
        None => Ok(default),
        Some(v) => int_value(v).map_err(|m| decode_err(name, m)),
    }
}

/// A required integer.
pub fn int(args: &Args, name: &str) -> Result<i64, String> {
    let v = args.get(name).ok_or_else(|| missing(name))?;
    int_value(v).map_err(|m| decode_err(name, m))
}

fn int_value(v: &Json) -> Result<i64, String> {
    match v {
        Json::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)).ok_or_else(|| "out of range".into()),
        Json::Bool(b) => Ok(*b as i64),
        Json::Null => Ok(0),
        Json::String(s) if s.is_empty() => Ok(0),
        Json::String(s) => parse_go_int(s)
            .ok_or_else(|| format!("cannot parse '' as int: strconv.ParseInt: parsing {s:?}: invalid syntax")),
        other => Err(format!("'' expected type 'int', got unconvertible type '{}'", go_type(other))),
    }
}

fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let body = body.replace('_', "");
    let v = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        i64::from_str_radix(o, 8).ok()?
    } else if let Some(b) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        i64::from_str_radix(b, 2).ok()?
    } else if body.len() > 1 && body.starts_with('0') {
        i64::from_str_radix(&body[1..], 8).ok()?
    } else {
        body.parse().ok()?
    };
    Some(if neg { -v } else { v })
}

/// An optional bool; strings as Go's `strconv.ParseBool` (`1 t T TRUE true True`, `0 f …`),
/// numbers non-zero, empty string false.
pub fn opt_bool(args: &Args, name: &str, default: bool) -> Result<bool, String> {
    match args.get(name) {
        None => Ok(default),
        Some(Json::Bool(b)) => Ok(*b),
        Some(Json::Number(n)) => Ok(n.as_f64().unwrap_or(0.0) != 0.0),
        Some(Json::Null) => Ok(false),
        Some(Json::String(s)) => match s.as_str() {
            "" => Ok(false),
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
            _ => Err(decode_err(
                name,
                format!("cannot parse '' as bool: strconv.ParseBool: parsing {s:?}: invalid syntax"),
            )),
        },
        Some(other) => {
            Err(decode_err(name, format!("'' expected type 'bool', got unconvertible type '{}'", go_type(other))))
        }
    }
}

/// An optional `map[string]string` (values weakly converted).
pub fn opt_string_map(args: &Args, name: &str) -> Result<Option<BTreeMap<String, String>>, String> {
    match args.get(name) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                weak_string(v).map(|s| (k.clone(), s)).ok_or_else(|| {
                    decode_err(name, format!("'[{k}]' expected type 'string', got unconvertible type '{}'", go_type(v)))
                })
            })
            .collect::<Result<_, _>>()
            .map(Some),
        Some(other) => Err(decode_err(
            name,
            format!("'' expected a map, got '{}'", go_type(other).trim_start_matches("[]").to_string() + "'"),
        )),
    }
}

/// An optional JSON object (podOverride, specs).
pub fn opt_object(args: &Args, name: &str) -> Result<Option<serde_json::Map<String, Json>>, String> {
    match args.get(name) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Object(m)) => Ok(Some(m.clone())),
        Some(other) => Err(decode_err(name, format!("'' expected a map, got '{}'", go_type(other)))),
    }
}

/// A list given as a YAML/JSON list or as a YAML text of one (upstream's `GetYamlList`).
pub fn yaml_list(args: &Args, name: &str) -> Result<Option<Vec<String>>, String> {
    match args.get(name) {
        None => Ok(None),
        Some(Json::Array(_)) => strings(args, name).map(Some),
        Some(Json::String(s)) => {
            if s.is_empty() {
                return Ok(None);
            }
            serde_saphyr::from_str::<Vec<String>>(s).map(Some).map_err(|e| e.to_string())
        }
        Some(_) => Err(format!("Invalid {name} arg format")),
    }
}

/// Go's name of a JSON value's decoded type.
fn go_type(v: &Json) -> &'static str {
    match v {
        Json::Null => "<nil>",
        Json::Bool(_) => "bool",
        Json::Number(n) if n.is_f64() => "float64",
        Json::Number(_) => "int",
        Json::String(_) => "string",
        Json::Array(_) => "[]interface {}",
        Json::Object(_) => "map[string]interface {}",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Json) -> Args {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn weak_decoding_as_mapstructure() {
        let a = args(json!({"s": 3, "b": "true", "i": "0x10", "l": "one", "ll": ["a", 2], "f": 2.9, "e": ""}));
        assert_eq!(string(&a, "s").unwrap(), "3");
        assert!(opt_bool(&a, "b", false).unwrap());
        assert_eq!(opt_int(&a, "i", 0).unwrap(), 16);
        assert_eq!(opt_int(&a, "f", 0).unwrap(), 2);
        assert_eq!(opt_int(&a, "e", 5).unwrap(), 0);
        assert_eq!(opt_int(&a, "absent", 5).unwrap(), 5);
        assert_eq!(strings(&a, "l").unwrap(), vec!["one"]);
        assert_eq!(strings(&a, "ll").unwrap(), vec!["a", "2"]);
        assert_eq!(string(&a, "nope").unwrap_err(), "Argument missing nope");
        assert!(opt_bool(&a, "s", false).unwrap());
        let bad = args(json!({"b": "maybe", "i": "x1", "m": [1]}));
        assert!(opt_bool(&bad, "b", false).unwrap_err().starts_with("Failed to decode arg `b`: "));
        assert!(opt_int(&bad, "i", 0).unwrap_err().starts_with("Failed to decode arg `i`: "));
        assert!(string(&bad, "m").unwrap_err().starts_with("Failed to decode arg `m`: "));
    }

    #[test]
    fn yaml_lists_and_maps() {
        let a = args(json!({"y": "- a\n- b\n", "l": ["x"], "m": {"k": 1}, "n": 5}));
        assert_eq!(yaml_list(&a, "y").unwrap().unwrap(), vec!["a", "b"]);
        assert_eq!(yaml_list(&a, "l").unwrap().unwrap(), vec!["x"]);
        assert_eq!(yaml_list(&a, "none").unwrap(), None);
        assert_eq!(opt_string_map(&a, "m").unwrap().unwrap()["k"], "1");
        assert_eq!(yaml_list(&a, "n").unwrap_err(), "Invalid n arg format");
    }
}
