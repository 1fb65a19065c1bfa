//! Masterminds/semver v1.5.0 (what sprig v2.22's `semver` and `semverCompare` use):
//! lenient versions (`v1`, `1.2`), constraints with `=`, `!=`, `>`, `<`, `>=`, `<=`, `~`,
//! `~>`, `^`, wildcards (`1.x`, `*`), hyphen ranges, `,` (and) and `||` (or). Imports only
//! `gostd::strconv`; must not import template values, the function table, the executor or
//! sprig.

use crate::template::gostd::strconv::quote_go;

use regex::Regex;
use std::cmp::Ordering;
use std::sync::LazyLock;

const SEMVER: &str =
    r"v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
const CV: &str = r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";

static VERSION_RE: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(&format!("^{SEMVER}$")).ok());
static CONSTRAINT_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    let ops = ["", "=", "!=", ">", "<", ">=", "=>", "<=", "=<", "~", "~>", "^"];
    // Longest operators first so the alternation prefers them.
    let mut ops: Vec<String> = ops.iter().map(|o| regex::escape(o)).collect();
    ops.sort_by_key(|o| std::cmp::Reverse(o.len()));
    Regex::new(&format!(r"^\s*({})\s*({CV})\s*$", ops.join("|"))).ok()
});
static RANGE_RE: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(&format!(r"\s*({CV})\s+-\s+({CV})\s*")).ok());

/// A parsed version.
#[derive(Debug, Clone)]
pub(crate) struct Version {
    pub major: i64,
    pub minor: i64,
    pub patch: i64,
    pub pre: String,
    pub metadata: String,
    pub original: String,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        if !self.metadata.is_empty() {
            write!(f, "+{}", self.metadata)?;
        }
        Ok(())
    }
}

impl Version {
    /// `semver.NewVersion`.
    pub fn parse(v: &str) -> Result<Version, String> {
        let re = VERSION_RE.as_ref().ok_or("Invalid Semantic Version")?;
        let m = re.captures(v).ok_or("Invalid Semantic Version")?;
        let seg = |i: usize| -> Result<i64, String> {
            match m.get(i) {
                None => Ok(0),
                Some(x) => x.as_str().trim_start_matches('.').parse::<i64>().map_err(|_| {
                    format!(
                        "Error parsing version segment: strconv.ParseInt: parsing {}: value out of range",
                        quote_go(x.as_str().trim_start_matches('.'))
                    )
                }),
            }
        };
        Ok(Version {
            major: seg(1)?,
            minor: seg(2)?,
            patch: seg(3)?,
            pre: m.get(5).map_or("", |x| x.as_str()).to_string(),
            metadata: m.get(8).map_or("", |x| x.as_str()).to_string(),
            original: v.to_string(),
        })
    }

    fn compare(&self, o: &Version) -> Ordering {
        self.major.cmp(&o.major).then(self.minor.cmp(&o.minor)).then(self.patch.cmp(&o.patch)).then_with(|| {
            match (self.pre.is_empty(), o.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => compare_prerelease(&self.pre, &o.pre),
            }
        })
    }
}

fn compare_prerelease(v: &str, o: &str) -> Ordering {
    let sp: Vec<&str> = v.split('.').collect();
    let op: Vec<&str> = o.split('.').collect();
    for i in 0..sp.len().max(op.len()) {
        let d = compare_pre_part(sp.get(i).copied().unwrap_or(""), op.get(i).copied().unwrap_or(""));
        if d != Ordering::Equal {
            return d;
        }
    }
    Ordering::Equal
}

fn compare_pre_part(s: &str, o: &str) -> Ordering {
    if s == o {
        return Ordering::Equal;
    }
    if s.is_empty() {
        return Ordering::Less;
    }
    if o.is_empty() {
        return Ordering::Greater;
    }
    match (s.parse::<u64>(), o.parse::<u64>()) {
        (Err(_), Err(_)) => {
            if s > o {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Ok(a), Ok(b)) => {
            if a > b {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
    }
}

struct Constraint {
    op: String,
    con: Version,
    minor_dirty: bool,
    patch_dirty: bool,
    dirty: bool,
}

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "*" | "X")
}

impl Constraint {
    fn parse(c: &str) -> Result<Constraint, String> {
        let re = CONSTRAINT_RE.as_ref().ok_or("constraint Parser Error")?;
        let m = re.captures(c).ok_or_else(|| format!("improper constraint: {c}"))?;
        let g = |i: usize| m.get(i).map_or("", |x| x.as_str());
        let mut ver = g(2).to_string();
        let (mut minor_dirty, mut patch_dirty, mut dirty) = (false, false, false);
        if is_x(g(3)) {
            ver = "0.0.0".into();
            dirty = true;
        } else if is_x(g(4).trim_start_matches('.')) || g(4).is_empty() {
            minor_dirty = true;
            dirty = true;
            ver = format!("{}.0.0{}", g(3), g(6));
        } else if is_x(g(5).trim_start_matches('.')) {
            dirty = true;
            patch_dirty = true;
            ver = format!("{}{}.0{}", g(3), g(4), g(6));
        }
        let con = Version::parse(&ver).map_err(|_| "constraint Parser Error".to_string())?;
        Ok(Constraint { op: g(1).to_string(), con, minor_dirty, patch_dirty, dirty })
    }

    fn check(&self, v: &Version) -> bool {
        let c = &self.con;
        if !v.pre.is_empty() && c.pre.is_empty() {
            return false;
        }
        let tilde = || -> bool {
            if v.compare(c) == Ordering::Less {
                return false;
            }
            if c.major == 0 && c.minor == 0 && c.patch == 0 && !self.minor_dirty && !self.patch_dirty {
                return true;
            }
            if v.major != c.major {
                return false;
            }
            v.minor == c.minor || self.minor_dirty
        };
        let upper_dirty = || -> bool { !(v.major > c.major || (v.minor > c.minor && !self.minor_dirty)) };
        match self.op.as_str() {
            "" | "=" => {
                if self.dirty {
                    tilde()
                } else {
                    v.compare(c) == Ordering::Equal
                }
            }
            "!=" => {
                if self.dirty {
                    if c.major != v.major {
                        return true;
                    }
                    if c.minor != v.minor && !self.minor_dirty {
                        return true;
                    }
                    false
                } else {
                    v.compare(c) != Ordering::Equal
                }
            }
            ">" => v.compare(c) == Ordering::Greater,
            "<" => {
                if !self.dirty {
                    v.compare(c) == Ordering::Less
                } else {
                    upper_dirty()
                }
            }
            ">=" | "=>" => v.compare(c) != Ordering::Less,
            "<=" | "=<" => {
                if !self.dirty {
                    v.compare(c) != Ordering::Greater
                } else {
                    upper_dirty()
                }
            }
            "~" | "~>" => tilde(),
            "^" => v.compare(c) != Ordering::Less && v.major == c.major,
            _ => false,
        }
    }
}

/// `semver.NewConstraint`.
pub(crate) struct Constraints(Vec<Vec<Constraint>>);

impl Constraints {
    pub fn parse(c: &str) -> Result<Constraints, String> {
        let mut c = c.to_string();
        if let Some(re) = RANGE_RE.as_ref() {
            let found: Vec<(String, String, String)> = re
                .captures_iter(&c)
                .map(|m| {
                    (
                        m.get(0).map_or("", |x| x.as_str()).to_string(),
                        m.get(1).map_or("", |x| x.as_str()).to_string(),
                        m.get(11).map_or("", |x| x.as_str()).to_string(),
                    )
                })
                .collect();
            for (whole, a, b) in found {
                c = c.replacen(&whole, &format!(">= {a}, <= {b}"), 1);
            }
        }
        let mut ors = Vec::new();
        for or in c.split("||") {
            let mut ands = Vec::new();
            for s in or.split(',') {
                ands.push(Constraint::parse(s)?);
            }
            ors.push(ands);
        }
        Ok(Constraints(ors))
    }

    pub fn check(&self, v: &Version) -> bool {
        self.0.iter().any(|ands| ands.iter().all(|c| c.check(v)))
    }
}
