//! The pure Kanister model: the `cr.kanister.io/v1alpha1` API types, a Go `text/template` +
//! sprig renderer, the function registry, blueprint validation and rendering.
//!
//! This crate must depend neither on kube nor on the repository engine (`kanrepo`): it is
//! plain data and pure functions, shared by kanctl, the controller and their tests. The
//! cluster client is `kanister-kube`; kanctl and the controller are their own crates.
//!
//! * [`types`]: Blueprint, ActionSet, Profile (and RepositoryServer) exactly as upstream
//!   serialises them, and the CRD manifests generated from them ([`crd`]).
//! * [`template`]: Go `text/template` semantics (Go's lexer, parser and executor, ported) with
//!   `missingkey=error` and the sprig functions blueprints use.
//! * [`functions`]: every Kanister function with its required and optional args;
//!   [`validate`] checks blueprints against it as upstream does.
//! * [`params`]: TemplateParams (`.StatefulSet`, `.Profile`, `.Phases`, …) and [`render`]:
//!   rendering a blueprint action's phases and artifacts.

pub mod crd;
pub mod functions;
pub mod load;
pub mod params;
pub mod render;
pub mod template;
pub mod types;
pub mod validate;
