//! `time.Duration`: `time.ParseDuration`, `Duration.String()` and `Duration.Round`, on
//! nanosecond counts (`i64`). A leaf: must not import anything, not even the rest of
//! `gostd::time`.

/// `time.ParseDuration`, in nanoseconds.
pub(crate) fn parse_duration(s: &str) -> Option<i64> {
    let orig = s;
    let mut s = s;
    let mut neg = false;
    if let Some(c) = s.chars().next()
        && (c == '-' || c == '+')
    {
        neg = c == '-';
        s = &s[1..];
    }
    if s == "0" {
        return Some(0);
    }
    if s.is_empty() {
        return None;
    }
    let mut d: u64 = 0;
    while !s.is_empty() {
        let b = s.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return None;
        }
        let n_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let v: u64 = if n_len > 0 { s[..n_len].parse().ok()? } else { 0 };
        let pre = n_len > 0;
        s = &s[n_len..];
        let mut f: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut post = false;
        if s.starts_with('.') {
            s = &s[1..];
            let fl = s.bytes().take_while(u8::is_ascii_digit).count();
            for c in s[..fl].bytes() {
                if f < (1 << 62) / 10 {
                    f = f * 10 + (c - b'0') as u64;
                    scale *= 10.0;
                }
            }
            post = fl > 0;
            s = &s[fl..];
        }
        if !pre && !post {
            return None;
        }
        let ul = s.bytes().take_while(|c| *c != b'.' && !c.is_ascii_digit()).count();
        if ul == 0 {
            let _ = orig;
            return None;
        }
        let unit: u64 = match &s[..ul] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        s = &s[ul..];
        if v > (1u64 << 63) / unit {
            return None;
        }
        let mut v = v * unit;
        if f > 0 {
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > 1 << 63 {
                return None;
            }
        }
        d += v;
        if d > 1 << 63 {
            return None;
        }
    }
    if neg {
        return Some((d as i128).wrapping_neg() as i64);
    }
    if d > (1u64 << 63) - 1 {
        return None;
    }
    Some(d as i64)
}

/// `time.Duration.String()`.
pub(crate) fn duration_string(d: i64) -> String {
    if d == 0 {
        return "0s".into();
    }
    let neg = d < 0;
    let mut u = d.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        let (unit, scale) = if u < 1_000 {
            ("ns", 1u64)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        out.push_str(&frac(u, scale));
        out.push_str(unit);
    } else {
        let secs_part = frac(u % 60_000_000_000, 1_000_000_000);
        u /= 60_000_000_000;
        let mut s = format!("{secs_part}s");
        if u > 0 {
            s = format!("{}m{}", u % 60, s);
            u /= 60;
            if u > 0 {
                s = format!("{u}h{s}");
            }
        }
        out = s;
    }
    if neg { format!("-{out}") } else { out }
}

/// `v / scale` with the fraction, trailing zeros dropped ("1.5", "2").
fn frac(v: u64, scale: u64) -> String {
    let whole = v / scale;
    let mut f = v % scale;
    if f == 0 {
        return whole.to_string();
    }
    let mut digits = scale.to_string().len() - 1;
    while f.is_multiple_of(10) {
        f /= 10;
        digits -= 1;
    }
    format!("{whole}.{f:0digits$}")
}

/// `Duration.Round(m)` (Go's rounding: halves away from zero).
pub(crate) fn duration_round(d: i64, m: i64) -> i64 {
    if m <= 0 {
        return d;
    }
    let mut r = d % m;
    if d < 0 {
        r = -r;
        if r + r < m {
            return d + r;
        }
        return d.checked_sub(m - r).unwrap_or(i64::MIN);
    }
    if r + r < m {
        return d - r;
    }
    d.checked_add(m - r).unwrap_or(i64::MAX)
}
