//! sprig's network.go: `getHostByName` (a random address of the name, as sprig picks one).
//!
//! Registers into [`crate::template::registry`]; must not import the executor, the assembled
//! table or the other sprig files (what they share is in [`super::helpers`]).

use super::helpers::{s, str_v};
use crate::template::gostd::rand::random_below;
use crate::template::registry::{Registry, Ty::*};

/// Registers network.go's functions.
pub(super) fn register(r: &mut Registry) {
    r.plain("getHostByName", &[Str], None, |a| {
        use std::net::ToSocketAddrs;
        let addrs: Vec<String> =
            (s(&a[0]), 0).to_socket_addrs().map(|it| it.map(|x| x.ip().to_string()).collect()).unwrap_or_default();
        if addrs.is_empty() {
            return Err("invalid argument to Intn".into());
        }
        str_v(addrs[random_below(addrs.len() as u64) as usize].clone())
    });
}
