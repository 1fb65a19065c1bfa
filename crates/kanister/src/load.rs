//! Reading Kanister objects from YAML or JSON text (files, stdin, kubectl output).
//!
//! A file may hold several YAML documents (blueprint files often ship a Secret or a
//! ConfigMap alongside); the readers pick the document of the wanted `kind`.

use crate::types::{Blueprint, Profile};
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

/// An error reading an object.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Not YAML or JSON.
    #[error("not valid YAML or JSON: {0}")]
    Syntax(String),
    /// No document of the wanted kind.
    #[error("no {0} in the input")]
    Missing(&'static str),
    /// The document does not have the type's shape.
    #[error("invalid {kind}: {msg}")]
    Shape {
        /// Which kind.
        kind: &'static str,
        /// Why.
        msg: String,
    },
}

/// Every document of a YAML (or JSON, which is YAML) text, as JSON values.
pub fn documents(text: &str) -> Result<Vec<Json>, LoadError> {
    if let Ok(v) = serde_json::from_str::<Json>(text) {
        return Ok(vec![v]);
    }
    let docs: Vec<Json> = serde_saphyr::from_str_multiple(text).map_err(|e| LoadError::Syntax(e.to_string()))?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// The first document, whatever its kind.
pub fn any(text: &str) -> Result<Json, LoadError> {
    documents(text)?.into_iter().next().ok_or(LoadError::Missing("document"))
}

fn of_kind<T: DeserializeOwned>(text: &str, kind: &'static str) -> Result<T, LoadError> {
    let docs = documents(text)?;
    let doc = docs
        .iter()
        .find(|d| d.get("kind").and_then(|k| k.as_str()) == Some(kind))
        .or_else(|| if docs.len() == 1 && docs[0].get("kind").is_none() { docs.first() } else { None })
        .ok_or(LoadError::Missing(kind))?;
    serde_json::from_value(doc.clone()).map_err(|e| LoadError::Shape { kind, msg: e.to_string() })
}

/// The Blueprint in `text`.
pub fn blueprint(text: &str) -> Result<Blueprint, LoadError> {
    of_kind(text, "Blueprint")
}

/// The Profile in `text`.
pub fn profile(text: &str) -> Result<Profile, LoadError> {
    of_kind(text, "Profile")
}

#[cfg(test)]
mod tests {
    #[test]
    fn picks_the_document_of_the_kind() {
        let text = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n---\napiVersion: cr.kanister.io/v1alpha1\nkind: Blueprint\nmetadata:\n  name: bp\nactions: {}\n";
        let docs = super::documents(text).unwrap();
        assert_eq!(docs.len(), 2);
        let bp = super::blueprint(text).unwrap();
        assert_eq!(bp.metadata.name.as_deref(), Some("bp"));
        assert!(super::profile(text).is_err());
        assert!(super::documents("a: [").is_err());
    }
}
