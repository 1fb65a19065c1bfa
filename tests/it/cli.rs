//! CLI tests (kando binary).
