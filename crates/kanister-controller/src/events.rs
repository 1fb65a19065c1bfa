//! Kubernetes Events on ActionSets (and Blueprints), with upstream's reasons: `Started Action`,
//! `Started Phase`, `Ended Phase`, `Started deferPhase`, `Ended deferPhase`, `Update Complete`
//! (Normal); `ActionSetFailed Action: <name>`, `Error`, `Blueprint not specified`,
//! `Update Failed` (Warning). Upstream's message for a failure is `"<what failed> <error>"`.
//! Upstream writes core/v1 events from source `Kanister Controller`; these are
//! `events.k8s.io/v1` events (kube-runtime's recorder), reported by `kanister-controller`,
//! which `kubectl describe` and the core/v1 events API show alike.
//!
//! Publishing is best effort: a failure to record an event is logged, never fails an action.
//! Messages pass through the password scrubber before they leave the process.

use k8s_openapi::api::core::v1::ObjectReference;
use kanister::types::{ActionSet, Blueprint};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

/// The reporting controller of our `events.k8s.io/v1` events, which must be a qualified name
/// (upstream's `Kanister Controller` is not one); `kubectl describe` shows it as `From`.
pub const REPORTER: &str = "kanister-controller";

/// The event recorder.
pub struct Events {
    recorder: Option<Recorder>,
    scrub: Box<dyn Fn(&str) -> String + Send + Sync>,
}

/// An object an event is about.
pub fn actionset_ref(a: &ActionSet) -> ObjectReference {
    ObjectReference {
        api_version: Some(kanister::types::API_VERSION.into()),
        kind: Some("ActionSet".into()),
        name: a.metadata.name.clone(),
        namespace: a.metadata.namespace.clone(),
        uid: a.metadata.uid.clone(),
        resource_version: a.metadata.resource_version.clone(),
        ..ObjectReference::default()
    }
}

/// A Blueprint as an event's object.
pub fn blueprint_ref(b: &Blueprint) -> ObjectReference {
    ObjectReference {
        api_version: Some(kanister::types::API_VERSION.into()),
        kind: Some("Blueprint".into()),
        name: b.metadata.name.clone(),
        namespace: b.metadata.namespace.clone(),
        uid: b.metadata.uid.clone(),
        resource_version: b.metadata.resource_version.clone(),
        ..ObjectReference::default()
    }
}

impl Events {
    /// Events published through `client` as `instance` (the pod name).
    pub fn new(
        client: kube::Client,
        instance: Option<String>,
        scrub: Box<dyn Fn(&str) -> String + Send + Sync>,
    ) -> Events {
        let reporter = Reporter { controller: REPORTER.into(), instance };
        Events { recorder: Some(Recorder::new(client, reporter)), scrub }
    }

    /// No events (unit tests).
    pub fn disabled() -> Events {
        Events { recorder: None, scrub: Box::new(|s| s.to_string()) }
    }

    async fn publish(&self, type_: EventType, reason: &str, note: &str, obj: &ObjectReference) {
        let Some(r) = &self.recorder else { return };
        let mut note = (self.scrub)(note);
        if note.len() > 1000 {
            let mut cut = 1000;
            while !note.is_char_boundary(cut) {
                cut -= 1;
            }
            note.truncate(cut);
            note.push('…');
        }
        let ev = Event {
            type_,
            reason: reason.chars().take(128).collect(),
            note: Some(note),
            action: reason.split_whitespace().collect::<String>().chars().take(128).collect(),
            secondary: None,
        };
        if let Err(e) = r.publish(&ev, obj).await {
            let e = match e {
                kube::Error::Api(s) => s.message,
                other => other.to_string(),
            };
            tracing::warn!(reason, error = %e, "could not record an event");
        }
    }

    /// A Normal event.
    pub async fn normal(&self, obj: &ObjectReference, reason: &str, message: &str) {
        self.publish(EventType::Normal, reason, message, obj).await
    }

    /// A Warning event: `"<msg> <error>"` as upstream's `logAndErrorEvent`.
    pub async fn warning(&self, obj: &ObjectReference, reason: &str, msg: &str, err: &str) {
        self.publish(EventType::Warning, reason, &format!("{msg} {err}"), obj).await
    }
}
