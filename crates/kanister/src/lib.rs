//! Kanister compatibility: the `cr.kanister.io/v1alpha1` API types, a Go `text/template` +
//! sprig renderer, the function registry and blueprint validation, and the `kanctl` CLI.
//!
//! The engine (`kanrepo`) never depends on this crate nor on kube: Kubernetes concerns stay
//! here. This crate uses the engine only to check a Profile's bucket access with the very
//! backends kando uses ([`cluster::check_profile_access`]).
//!
//! * [`types`]: Blueprint, ActionSet, Profile (and RepositoryServer) exactly as upstream
//!   serialises them, and the CRD manifests generated from them ([`crd`]).
//! * [`template`]: Go `text/template` semantics (Go's lexer, parser and executor, ported) with
//!   `missingkey=error` and the sprig functions blueprints use.
//! * [`functions`]: every Kanister function with its required and optional args;
//!   [`validate`] checks blueprints against it as upstream does.
//! * [`params`]: TemplateParams (`.StatefulSet`, `.Profile`, `.Phases`, …) and [`render`]:
//!   rendering a blueprint action's phases and artifacts.
//! * [`cluster`]: reading and creating these objects on a Kubernetes API server (kube, the
//!   normal kubeconfig rules), with errors that say what to do.

pub mod cluster;
pub mod crd;
pub mod functions;
pub mod load;
pub mod params;
pub mod render;
pub mod template;
pub mod types;
pub mod validate;
