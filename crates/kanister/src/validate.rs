//! Validation exactly as upstream Kanister does it, with upstream's error messages.
//!
//! * [`validate_blueprint`]: `kanctl validate blueprint` and the Blueprint validating
//!   webhook (`pkg/blueprint/validate.Do`): every phase's function is registered, its
//!   `podLabels`/`podAnnotations` are valid, it gets no unsupported argument and all its
//!   required ones, and phase names are unique across the whole blueprint.
//! * [`validate_profile`]: `kanctl validate profile`'s schema check (`validate.ProfileSchema`).
//! * [`validate_actionset`]: the controller's ActionSet check (`validate.ActionSet`), run
//!   before every status write.
//! * [`check_rendered_args`]: the argument check the controller makes on a phase's
//!   rendered arguments just before running it.
//!
//! Like upstream, blueprint validation does not look inside templates: template syntax and
//! missing keys are found when rendering ([`crate::render`]). Where upstream iterates a Go
//! map (actions, arguments, labels) the order is random; here it is sorted, so the error
//! reported first is deterministic.
//!
//! Some upstream messages contain a literal `%s`: upstream passes printf-style arguments to
//! `errkit.Wrap`, which treats them as structured details, not format arguments (0.113.0
//! and later). They are reproduced as upstream prints them.

use crate::functions::{self, FunctionSpec, LookupError, POD_ANNOTATIONS_ARG, POD_LABELS_ARG};
use crate::types::{ActionSet, Blueprint, Profile, State, credential_type, location_type};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

/// Why a blueprint is invalid. `Display` is upstream's message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// A phase names an unknown function, or the function version is unusable.
    #[error("Failed to validate action {action}: {source}")]
    Function {
        /// The action.
        action: String,
        /// Why the lookup failed.
        source: LookupError,
    },
    /// A phase's arguments are wrong.
    #[error("Failed to validate phase {phase} in action {action}: {source}")]
    Args {
        /// The action.
        action: String,
        /// The phase name.
        phase: String,
        /// What is wrong.
        source: ArgsError,
    },
    /// Two phases (in any actions, deferPhases included) share a name.
    #[error("Failed to validate: Duplicated phase name is not allowed. Violating phase '{0}'")]
    DuplicatePhase(String),
}

/// What is wrong with a phase's arguments (a function's `Validate`). `Display` is
/// upstream's message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    /// An argument the function does not take.
    #[error("argument {0} is not supported")]
    Unsupported(String),
    /// A required argument is absent.
    #[error("Required arg missing: {0}")]
    Missing(String),
    /// `podLabels` is not a map.
    #[error(
        "Kanister function validation failed, while getting pod labels from function args: podLabels are not in correct format. Expected format is map[string]interface{{}}."
    )]
    PodLabelsFormat,
    /// A `podLabels` key or value is not a valid label.
    #[error("Kanister function validation failed, while validating labels: {0}")]
    PodLabels(LabelError),
    /// `podAnnotations` is not a map.
    #[error(
        "Kanister function validation failed, while getting pod annotations from function args: podAnnotations are not in correct format. expected format is map[string]string."
    )]
    PodAnnotationsFormat,
    /// A `podAnnotations` key is not a valid annotation key.
    #[error("Kanister function validation failed, while validating annotations: {0}")]
    PodAnnotations(LabelError),
}

/// An invalid label or annotation (`validate.ValidateLabels`/`ValidateAnnotations`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    /// A label key that is not a qualified name.
    #[error("label key '{key}' failed validation. {}", go_list(.errors))]
    Key {
        /// The key.
        key: String,
        /// Kubernetes' reasons.
        errors: Vec<String>,
    },
    /// An invalid label value.
    #[error("label value '{value}' failed validation. {}", go_list(.errors))]
    Value {
        /// The value.
        value: String,
        /// Kubernetes' reasons.
        errors: Vec<String>,
    },
    /// An annotation key that is not a qualified name.
    #[error("annotation key '{key}' failed validation. {}", go_list(.errors))]
    AnnotationKey {
        /// The key.
        key: String,
        /// Kubernetes' reasons.
        errors: Vec<String>,
    },
}

/// Go's `%s` of a `[]string`: `[a b c]`.
fn go_list(v: &[String]) -> String {
    format!("[{}]", v.join(" "))
}

/// Validate a blueprint against function version `v0.0.0`, as the validating webhook does.
pub fn validate_blueprint(bp: &Blueprint) -> Result<(), ValidationError> {
    validate_blueprint_version(bp, functions::DEFAULT_VERSION)
}

/// Validate a blueprint for a function version (`kanctl validate blueprint -v`).
///
/// Per action (in name order): every phase's function resolves, then the deferPhase's
/// function resolves and its arguments are checked, then each phase's arguments; finally
/// phase names are checked for duplicates across the blueprint. This is upstream's order.
pub fn validate_blueprint_version(bp: &Blueprint, version: &str) -> Result<(), ValidationError> {
    for (action, a) in &bp.actions {
        let lookup = |func: &str| {
            functions::resolve(func, version)
                .map_err(|source| ValidationError::Function { action: action.clone(), source })
        };
        let specs = a.phases.iter().map(|p| lookup(&p.func)).collect::<Result<Vec<_>, _>>()?;
        let args_err =
            |phase: &str, source| ValidationError::Args { action: action.clone(), phase: phase.to_string(), source };
        if let Some(d) = &a.defer_phase {
            validate_args(lookup(&d.func)?, &d.args).map_err(|e| args_err(&d.name, e))?;
        }
        for (p, spec) in a.phases.iter().zip(specs) {
            validate_args(spec, &p.args).map_err(|e| args_err(&p.name, e))?;
        }
    }
    let mut seen = HashSet::new();
    for (_, p) in bp.all_phases() {
        if !seen.insert(p.name.as_str()) {
            return Err(ValidationError::DuplicatePhase(p.name.clone()));
        }
    }
    Ok(())
}

/// A function's `Validate` on a phase's (unrendered) arguments: pod labels and annotations
/// (for functions that take them), then unsupported arguments, then missing required ones.
pub fn validate_args(f: &FunctionSpec, args: &BTreeMap<String, Value>) -> Result<(), ArgsError> {
    if f.takes_pod_metadata() {
        validate_pod_labels_and_annotations(args)?;
    }
    if let Some(a) = args.keys().find(|a| !f.accepts(a)) {
        return Err(ArgsError::Unsupported(a.clone()));
    }
    if let Some(r) = f.required_args.iter().find(|r| !args.contains_key(**r)) {
        return Err(ArgsError::Missing(r.to_string()));
    }
    Ok(())
}

/// Upstream's `ValidatePodLabelsAndAnnotations`: `podLabels`/`podAnnotations`, when present
/// and not null, must be maps; their string entries must be valid labels and annotation
/// keys (non-string values are skipped, as upstream does).
pub fn validate_pod_labels_and_annotations(args: &BTreeMap<String, Value>) -> Result<(), ArgsError> {
    if let Some(labels) = string_map(args, POD_LABELS_ARG).map_err(|()| ArgsError::PodLabelsFormat)? {
        validate_labels(&labels).map_err(ArgsError::PodLabels)?;
    }
    if let Some(ann) = string_map(args, POD_ANNOTATIONS_ARG).map_err(|()| ArgsError::PodAnnotationsFormat)? {
        validate_annotations(&ann).map_err(ArgsError::PodAnnotations)?;
    }
    Ok(())
}

fn string_map(args: &BTreeMap<String, Value>, key: &str) -> Result<Option<BTreeMap<String, String>>, ()> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => {
            Ok(Some(m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect()))
        }
        Some(_) => Err(()),
    }
}

/// Upstream's `validate.ValidateLabels`: keys are qualified names, values valid label values.
pub fn validate_labels(labels: &BTreeMap<String, String>) -> Result<(), LabelError> {
    for (k, v) in labels {
        let errors = is_qualified_name(k);
        if !errors.is_empty() {
            return Err(LabelError::Key { key: k.clone(), errors });
        }
        let errors = is_valid_label_value(v);
        if !errors.is_empty() {
            return Err(LabelError::Value { value: v.clone(), errors });
        }
    }
    Ok(())
}

/// Upstream's `validate.ValidateAnnotations`: keys are qualified names; values are free.
pub fn validate_annotations(annotations: &BTreeMap<String, String>) -> Result<(), LabelError> {
    for k in annotations.keys() {
        let errors = is_qualified_name(k);
        if !errors.is_empty() {
            return Err(LabelError::AnnotationKey { key: k.clone(), errors });
        }
    }
    Ok(())
}

/// Why rendered arguments were refused just before a phase runs (`Phase.Exec`).
/// `Display` is upstream's message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExecArgsError {
    /// A required argument is absent.
    #[error("Required args missing for function {func}: Required arg missing: {arg}")]
    Missing {
        /// The function.
        func: String,
        /// The argument.
        arg: String,
    },
    /// An argument the function does not take.
    #[error("Checking supported args for function {func}.: argument {arg} is not supported")]
    Unsupported {
        /// The function.
        func: String,
        /// The argument.
        arg: String,
    },
}

/// The check upstream makes on a phase's rendered arguments before running it: required
/// arguments first, then unsupported ones.
pub fn check_rendered_args(f: &FunctionSpec, args: &BTreeMap<String, Value>) -> Result<(), ExecArgsError> {
    if let Some(r) = f.required_args.iter().find(|r| !args.contains_key(**r)) {
        return Err(ExecArgsError::Missing { func: f.name.to_string(), arg: r.to_string() });
    }
    if let Some(a) = args.keys().find(|a| !f.accepts(a)) {
        return Err(ExecArgsError::Unsupported { func: f.name.to_string(), arg: a.clone() });
    }
    Ok(())
}

/// Why a Profile fails the schema check. `Display` is upstream's message (with its literal
/// `%s`); the offending value is in the variant.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProfileValidationError {
    /// `location.type` is not `s3Compliant`, `gcs` or `azure`.
    #[error("unknown or unsupported location type '%s': Validation Failed")]
    UnsupportedLocationType(String),
    /// `credential.type` is not `keyPair` or `secret`.
    #[error("Unsupported credential type '%s': Validation Failed")]
    UnsupportedCredentialType(String),
    /// keyPair credential without a Secret name.
    #[error("Secret for bucket credentials not specified: Validation Failed")]
    KeyPairSecretMissing,
    /// keyPair credential without `idField` or `secretField`.
    #[error("Secret field or id field empty: Validation Failed")]
    KeyPairFieldMissing,
    /// secret credential without a name.
    #[error("Secret name is empty: Validation Failed")]
    SecretNameMissing,
    /// secret credential without a namespace.
    #[error("Secret namespace is empty: Validation Failed")]
    SecretNamespaceMissing,
    /// s3Compliant location without a bucket.
    #[error("Bucket not specified: Validation Failed")]
    BucketMissing,
    /// s3Compliant location without a region.
    #[error("Bucket region not specified: Validation Failed")]
    RegionMissing,
}

/// Upstream's `validate.ProfileSchema`: location type, then credential, then the
/// s3Compliant bucket and region. (Upstream dereferences a missing `keyPair`/`secret` and
/// panics; here a missing one counts as empty.)
pub fn validate_profile(p: &Profile) -> Result<(), ProfileValidationError> {
    use ProfileValidationError as E;
    let t = p.location.location_type.as_str();
    if ![location_type::S3_COMPLIANT, location_type::GCS, location_type::AZURE].contains(&t) {
        return Err(E::UnsupportedLocationType(t.to_string()));
    }
    let c = &p.credential;
    match c.credential_type.as_str() {
        credential_type::KEY_PAIR => {
            let kp = c.key_pair.clone().unwrap_or_default();
            if kp.secret.name.is_empty() {
                return Err(E::KeyPairSecretMissing);
            }
            if kp.secret_field.is_empty() || kp.id_field.is_empty() {
                return Err(E::KeyPairFieldMissing);
            }
        }
        credential_type::SECRET => {
            let s = c.secret.clone().unwrap_or_default();
            if s.name.is_empty() {
                return Err(E::SecretNameMissing);
            }
            if s.namespace.is_none() {
                return Err(E::SecretNamespaceMissing);
            }
        }
        other => return Err(E::UnsupportedCredentialType(other.to_string())),
    }
    if t == location_type::S3_COMPLIANT {
        if p.location.bucket.is_empty() {
            return Err(E::BucketMissing);
        }
        if p.location.region.is_empty() {
            return Err(E::RegionMissing);
        }
    }
    Ok(())
}

/// Why an ActionSet is invalid (`validate.ActionSet`). `Display` is upstream's message
/// (with its literal `%s`); the offending values are in the variants.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ActionSetValidationError {
    /// No `spec`.
    #[error("Spec must be non-nil: Validation Failed")]
    NoSpec,
    /// An object kind Kanister does not know, without `apiVersion` and `resource`.
    #[error("Not a known object Kind %s. Action %s must specify Resource name and API version: Validation Failed")]
    UnknownKind {
        /// The kind.
        kind: String,
        /// The action.
        action: String,
    },
    /// `status.actions` and `spec.actions` differ in length.
    #[error("Number of actions in status actions and spec must match: Validation Failed")]
    ActionCount,
    /// A phase after a non-complete one is not pending.
    #[error("Phases after a %s one must be pending: Validation Failed")]
    PhaseAfterIncomplete(State),
    /// A phase state outside the enum.
    #[error("Action has unknown state '%s': Validation Failed")]
    UnknownPhaseState(State),
    /// The ActionSet state outside the enum.
    #[error("ActionSet has unknown state '%s': Validation Failed")]
    UnknownState(State),
    /// `complete` while a phase is pending or running.
    #[error("ActionSet cannot be complete if any actions are not complete: Validation Failed")]
    CompleteTooEarly,
}

/// Object kinds an ActionSet may target without naming the API resource.
pub const KNOWN_OBJECT_KINDS: [&str; 6] =
    ["statefulset", "deployment", "pvc", "deploymentconfig", "namespace", "unstructured"];

/// Upstream's `validate.ActionSet`: the spec (known object kinds), then, when there is a
/// status, its invariants (one status per action; phases after the first non-complete one
/// are pending; known states; not complete while a phase is pending or running). The
/// `deferPhase` state is not checked, as upstream.
pub fn validate_actionset(a: &ActionSet) -> Result<(), ActionSetValidationError> {
    use ActionSetValidationError as E;
    let spec = a.spec.as_ref().ok_or(E::NoSpec)?;
    for s in &spec.actions {
        let known = KNOWN_OBJECT_KINDS.contains(&s.object.kind.to_lowercase().as_str());
        if !known && (s.object.api_version.is_empty() || s.object.resource.is_empty()) {
            return Err(E::UnknownKind { kind: s.object.kind.clone(), action: s.name.clone() });
        }
    }
    let Some(status) = &a.status else { return Ok(()) };
    if spec.actions.len() != status.actions.len() {
        return Err(E::ActionCount);
    }
    for action in &status.actions {
        let mut incomplete: Option<&State> = None;
        for p in &action.phases {
            if let Some(s) = incomplete
                && p.state != State::Pending
            {
                return Err(E::PhaseAfterIncomplete(s.clone()));
            }
            if p.state != State::Complete && incomplete.is_none() {
                incomplete = Some(&p.state);
            }
        }
    }
    let mut busy = false;
    for p in status.actions.iter().flat_map(|a| &a.phases) {
        if !p.state.is_known() {
            return Err(E::UnknownPhaseState(p.state.clone()));
        }
        busy |= matches!(p.state, State::Pending | State::Running);
    }
    if !status.state.is_known() {
        return Err(E::UnknownState(status.state.clone()));
    }
    if busy && status.state == State::Complete {
        return Err(E::CompleteTooEarly);
    }
    Ok(())
}

// Kubernetes name rules (k8s.io/apimachinery/pkg/util/validation), with their messages.

const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_ERR: &str =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_ERR: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";

fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    let mut out = format!("{msg} (e.g. ");
    for (i, e) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push_str(&format!("'{e}', "));
    }
    out.push_str(&format!("regex used for validation is '{fmt}')"));
    out
}

fn max_len_error(n: usize) -> String {
    format!("must be no more than {n} characters")
}

/// `^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`
fn is_qualified_token(s: &str) -> bool {
    let b = s.as_bytes();
    let edge = |c: &u8| c.is_ascii_alphanumeric();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            edge(f) && edge(l) && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
fn is_dns1123_subdomain_token(s: &str) -> bool {
    s.split('.').all(|l| {
        let b = l.as_bytes();
        let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        match (b.first(), b.last()) {
            (Some(f), Some(e)) => edge(f) && edge(e) && b.iter().all(|c| edge(c) || *c == b'-'),
            _ => false,
        }
    })
}

/// Kubernetes' `IsDNS1123Subdomain`: the reasons `value` is not one (empty when it is).
pub fn is_dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 253 {
        errs.push(max_len_error(253));
    }
    if !is_dns1123_subdomain_token(value) {
        errs.push(regex_error(DNS1123_SUBDOMAIN_ERR, DNS1123_SUBDOMAIN_FMT, &["example.com"]));
    }
    errs
}

/// Kubernetes' `IsQualifiedName` (label and annotation keys): the reasons `value` is not
/// one (empty when it is).
pub fn is_qualified_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                errs.extend(is_dns1123_subdomain(prefix).into_iter().map(|m| format!("prefix part {m}")));
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(QUALIFIED_NAME_ERR, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push(format!("name part {}", max_len_error(63)));
    }
    if !is_qualified_token(name) {
        errs.push(format!(
            "name part {}",
            regex_error(QUALIFIED_NAME_ERR, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])
        ));
    }
    errs
}

/// Kubernetes' `IsValidLabelValue`: the reasons `value` is not one (empty when it is).
pub fn is_valid_label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !value.is_empty() && !is_qualified_token(value) {
        errs.push(regex_error(LABEL_VALUE_ERR, LABEL_VALUE_FMT, &["MyValue", "my_value", "12345"]));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names_as_kubernetes() {
        for ok in ["a", "app", "app.kubernetes.io/name", "A-b_c.D", "x/y", "a1"] {
            assert!(is_qualified_name(ok).is_empty(), "{ok}");
        }
        assert_eq!(
            is_qualified_name("-bad"),
            vec![
                "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an \
                 alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is \
                 '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
            ]
        );
        assert_eq!(is_qualified_name("/x"), vec!["prefix part must be non-empty"]);
        assert_eq!(is_qualified_name("a/b/c").len(), 1);
        assert_eq!(is_qualified_name("").len(), 2);
        assert_eq!(is_qualified_name(&"a".repeat(64)), vec!["name part must be no more than 63 characters"]);
        assert!(is_qualified_name("Bad_Prefix/x")[0].starts_with("prefix part a lowercase RFC 1123 subdomain"));
        assert!(is_valid_label_value("").is_empty());
        assert!(is_valid_label_value("v1.2_3-x").is_empty());
        assert_eq!(is_valid_label_value("-x").len(), 1);
        assert_eq!(is_valid_label_value(&"a".repeat(64)), vec!["must be no more than 63 characters"]);
    }
}
