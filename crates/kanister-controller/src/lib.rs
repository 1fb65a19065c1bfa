//! The Kanister controller: it runs ActionSets. For each one it finds the Blueprint action,
//! renders each phase's arguments just before the phase runs, runs the phase as a Kanister
//! function (usually a pod that pipes a database dump into `kando location push`), and
//! writes status, phase outputs, artifacts, events, progress and metrics back, as upstream
//! Kanister 0.119 does (`cr.kanister.io/v1alpha1`; kanister-spec §7), plus what upstream users
//! asked for: ActionSets that were running when a controller stopped are resumed, actions may
//! time out, kando's bytes moved show up as progress, metrics beyond one counter, leader
//! election.
//!
//! This crate must not depend on the repository engine (`kanrepo`): kando runs inside pods.
//! The test command checks `cargo tree`.
//!
//! Layout: a thin reconcile loop ([`controller`]) around pure decisions ([`decide`]);
//! [`runner`] → [`action`] → [`phase`] run an ActionSet; [`functions`] has one file per
//! Kanister function; [`podrun`] and [`exec`] run pods and commands; [`status`] writes
//! status with upstream's conflict retries; [`output`] parses phase outputs and kando's
//! progress; [`password`] carries the repository password to kando without exposing it.

pub mod action;
pub mod args;
pub mod context;
pub mod controller;
pub mod decide;
pub mod events;
pub mod exec;
pub mod functions;
pub mod http;
pub mod jsonpath;
pub mod leader;
pub mod metrics;
pub mod output;
pub mod params;
pub mod password;
pub mod phase;
pub mod pod_override;
pub mod podrun;
pub mod pods;
pub mod restic;
pub mod runner;
pub mod status;
