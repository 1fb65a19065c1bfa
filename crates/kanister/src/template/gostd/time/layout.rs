//! Go's reference-time layouts (`time/format.go`'s `nextStdChunk`): splitting a layout such
//! as `2006-01-02T15:04:05.999999999Z07:00` into literal text and layout elements. Shared by
//! formatting and parsing. A leaf: must not import anything.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    TZ,
    Iso,
    IsoSeconds,
    IsoShort,
    IsoColon,
    IsoColonSeconds,
    Num,
    NumSeconds,
    NumShort,
    NumColon,
    NumColonSeconds,
    /// Fractional seconds: digits, separator; `0`s kept.
    Frac0(usize, char),
    /// Fractional seconds: digits, separator; trailing zeros dropped.
    Frac9(usize, char),
}

fn starts_with_lower(s: &str) -> bool {
    s.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
}

/// Go's `nextStdChunk`: (text before, the element, text after).
pub(super) fn next_std_chunk(layout: &str) -> (&str, Option<Std>, &str) {
    let l = layout.as_bytes();
    let at = |i: usize, s: &str| layout.get(i..i + s.len()) == Some(s);
    for i in 0..l.len() {
        let hit = |std: Std, n: usize| (&layout[..i], Some(std), &layout[i + n..]);
        match l[i] {
            b'J' if at(i, "Jan") => {
                if at(i, "January") {
                    return hit(Std::LongMonth, 7);
                }
                if !starts_with_lower(&layout[i + 3..]) {
                    return hit(Std::Month, 3);
                }
            }
            b'M' => {
                if at(i, "Mon") {
                    if at(i, "Monday") {
                        return hit(Std::LongWeekDay, 6);
                    }
                    if !starts_with_lower(&layout[i + 3..]) {
                        return hit(Std::WeekDay, 3);
                    }
                }
                if at(i, "MST") {
                    return hit(Std::TZ, 3);
                }
            }
            b'0' => {
                if i + 1 < l.len() && (b'1'..=b'6').contains(&l[i + 1]) {
                    let s =
                        [Std::ZeroMonth, Std::ZeroDay, Std::ZeroHour12, Std::ZeroMinute, Std::ZeroSecond, Std::Year]
                            [(l[i + 1] - b'1') as usize];
                    return hit(s, 2);
                }
                if at(i, "002") {
                    return hit(Std::ZeroYearDay, 3);
                }
            }
            b'1' => {
                if i + 1 < l.len() && l[i + 1] == b'5' {
                    return hit(Std::Hour, 2);
                }
                return hit(Std::NumMonth, 1);
            }
            b'2' => {
                if at(i, "2006") {
                    return hit(Std::LongYear, 4);
                }
                return hit(Std::Day, 1);
            }
            b'_' => {
                if i + 1 < l.len() && l[i + 1] == b'2' {
                    if at(i + 1, "2006") {
                        return (&layout[..i + 1], Some(Std::LongYear), &layout[i + 5..]);
                    }
                    return hit(Std::UnderDay, 2);
                }
                if at(i, "__2") {
                    return hit(Std::UnderYearDay, 3);
                }
            }
            b'3' => return hit(Std::Hour12, 1),
            b'4' => return hit(Std::Minute, 1),
            b'5' => return hit(Std::Second, 1),
            b'P' if i + 1 < l.len() && l[i + 1] == b'M' => return hit(Std::PM, 2),
            b'p' if i + 1 < l.len() && l[i + 1] == b'm' => return hit(Std::Pm, 2),
            b'-' => {
                for (s, std) in [
                    ("-070000", Std::NumSeconds),
                    ("-07:00:00", Std::NumColonSeconds),
                    ("-0700", Std::Num),
                    ("-07:00", Std::NumColon),
                    ("-07", Std::NumShort),
                ] {
                    if at(i, s) {
                        return hit(std, s.len());
                    }
                }
            }
            b'Z' => {
                for (s, std) in [
                    ("Z070000", Std::IsoSeconds),
                    ("Z07:00:00", Std::IsoColonSeconds),
                    ("Z0700", Std::Iso),
                    ("Z07:00", Std::IsoColon),
                    ("Z07", Std::IsoShort),
                ] {
                    if at(i, s) {
                        return hit(std, s.len());
                    }
                }
            }
            b'.' | b',' if i + 1 < l.len() && (l[i + 1] == b'0' || l[i + 1] == b'9') => {
                let ch = l[i + 1];
                let mut j = i + 1;
                while j < l.len() && l[j] == ch {
                    j += 1;
                }
                if !(j < l.len() && l[j].is_ascii_digit()) {
                    let n = j - (i + 1);
                    let sep = l[i] as char;
                    let std = if ch == b'0' { Std::Frac0(n, sep) } else { Std::Frac9(n, sep) };
                    return (&layout[..i], Some(std), &layout[j..]);
                }
            }
            _ => {}
        }
    }
    (layout, None, "")
}
