//! Prometheus metrics (upstream #1602 asked for more than its one counter). Served on
//! `/metrics` of the health port.
//!
//! * `kanister_action_set_resolutions_total{resolution}`: upstream's counter (per action,
//!   `success`/`failure`, both pre-initialised to 0);
//! * `kanister_actions_total{blueprint,action,result}` and
//!   `kanister_action_duration_seconds{blueprint,action,result}`;
//! * `kanister_phases_total{function,result}` and `kanister_phase_duration_seconds{function,result}`;
//! * `kanister_bytes_uploaded_total`, `kanister_bytes_downloaded_total`: what kando moved in
//!   finished phases;
//! * `kanister_actionsets_running`: ActionSets this controller is running now;
//! * `kanister_controller_leader`: 1 while this replica holds the leader lease.
//!
//! Labels carry names (blueprints, actions, functions), never values from secrets or args.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Mutex;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Resolution {
    resolution: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    blueprint: String,
    action: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    function: String,
    result: String,
}

fn duration_histogram() -> Histogram {
    // 0.1 s … ~7 h.
    Histogram::new(exponential_buckets(0.1, 3.0, 11))
}

/// The controller's metrics.
pub struct Metrics {
    registry: Mutex<Registry>,
    resolutions: Family<Resolution, Counter>,
    actions: Family<ActionLabels, Counter>,
    action_seconds: Family<ActionLabels, Histogram, fn() -> Histogram>,
    phases: Family<PhaseLabels, Counter>,
    phase_seconds: Family<PhaseLabels, Histogram, fn() -> Histogram>,
    uploaded: Counter,
    downloaded: Counter,
    running: Gauge,
    leader: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn result(ok: bool) -> String {
    if ok { "success" } else { "failure" }.into()
}

impl Metrics {
    /// Registered and zeroed.
    pub fn new() -> Metrics {
        let mut r = Registry::default();
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            resolutions: Family::default(),
            actions: Family::default(),
            action_seconds: Family::new_with_constructor(duration_histogram as fn() -> Histogram),
            phases: Family::default(),
            phase_seconds: Family::new_with_constructor(duration_histogram as fn() -> Histogram),
            uploaded: Counter::default(),
            downloaded: Counter::default(),
            running: Gauge::default(),
            leader: Gauge::default(),
        };
        r.register(
            "kanister_action_set_resolutions",
            "ActionSet actions resolved, by resolution (upstream's counter)",
            m.resolutions.clone(),
        );
        for res in ["success", "failure"] {
            let _ = m.resolutions.get_or_create(&Resolution { resolution: res.into() });
        }
        r.register("kanister_actions", "Actions finished, by blueprint, action and result", m.actions.clone());
        r.register("kanister_action_duration_seconds", "Wall time of finished actions", m.action_seconds.clone());
        r.register("kanister_phases", "Phases finished, by Kanister function and result", m.phases.clone());
        r.register("kanister_phase_duration_seconds", "Wall time of finished phases", m.phase_seconds.clone());
        r.register("kanister_bytes_uploaded", "Stream bytes kando pushed in finished phases", m.uploaded.clone());
        r.register("kanister_bytes_downloaded", "Stream bytes kando pulled in finished phases", m.downloaded.clone());
        r.register("kanister_actionsets_running", "ActionSets this controller is running", m.running.clone());
        r.register("kanister_controller_leader", "1 while this replica holds the leader lease", m.leader.clone());
        *m.registry.lock().unwrap_or_else(|e| e.into_inner()) = r;
        m
    }

    /// An action finished.
    pub fn action(&self, blueprint: &str, action: &str, ok: bool, seconds: f64) {
        let l = ActionLabels { blueprint: blueprint.into(), action: action.into(), result: result(ok) };
        self.actions.get_or_create(&l).inc();
        self.action_seconds.get_or_create(&l).observe(seconds);
        self.resolutions.get_or_create(&Resolution { resolution: result(ok) }).inc();
    }

    /// A phase finished, having moved these bytes.
    pub fn phase(&self, function: &str, ok: bool, seconds: f64, uploaded: u64, downloaded: u64) {
        let l = PhaseLabels { function: function.into(), result: result(ok) };
        self.phases.get_or_create(&l).inc();
        self.phase_seconds.get_or_create(&l).observe(seconds);
        self.uploaded.inc_by(uploaded);
        self.downloaded.inc_by(downloaded);
    }

    /// One more (or one fewer) ActionSet running.
    pub fn running(&self, delta: i64) {
        self.running.inc_by(delta);
    }

    /// Leadership changed.
    pub fn leader(&self, is_leader: bool) {
        self.leader.set(is_leader as i64);
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let r = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        let _ = prometheus_client::encoding::text::encode(&mut out, &r);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_upstreams_counter_and_ours() {
        let m = Metrics::new();
        let text = m.encode();
        assert!(text.contains("kanister_action_set_resolutions_total{resolution=\"success\"} 0"), "{text}");
        assert!(text.contains("kanister_action_set_resolutions_total{resolution=\"failure\"} 0"));
        m.action("postgres-bp", "backup", true, 12.5);
        m.phase("KubeTask", true, 12.0, 1000, 0);
        m.running(1);
        let text = m.encode();
        assert!(text.contains("kanister_action_set_resolutions_total{resolution=\"success\"} 1"));
        assert!(
            text.contains("kanister_actions_total{blueprint=\"postgres-bp\",action=\"backup\",result=\"success\"} 1")
        );
        assert!(text.contains("kanister_phase_duration_seconds_count{function=\"KubeTask\",result=\"success\"} 1"));
        assert!(text.contains("kanister_bytes_uploaded_total 1000"));
        assert!(text.contains("kanister_actionsets_running 1"));
    }
}
