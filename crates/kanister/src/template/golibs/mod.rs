//! Ports of the third-party Go libraries sprig v2.22.0 calls, kept faithful to the versions
//! the golden cases are produced with (byte-wise quirks included; see
//! `tools/template-golden/go.mod`): Masterminds/goutils v1.1.1 ([`goutils`]),
//! huandu/xstrings v1.2.0 ([`xstrings`]) and Masterminds/semver v1.5.0 ([`semver`]). Not
//! Go's standard library (that is `super::gostd`), not sprig itself.
//!
//! They build on `super::gostd` only: none of them imports template values, the function
//! table, the executor or sprig.

pub(crate) mod goutils;
pub(crate) mod semver;
pub(crate) mod xstrings;
