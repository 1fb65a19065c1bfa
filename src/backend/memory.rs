//! In-memory backend for unit tests and benchmarks.

use super::{Backend, ObjectInfo};
use crate::error::{Error, ErrorKind, Result};
use async_trait::async_trait;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Objects in a map.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    map: Mutex<BTreeMap<String, (Bytes, std::time::SystemTime)>>,
}

impl MemoryBackend {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Backend for MemoryBackend {
    fn location(&self) -> String {
        "memory:".into()
    }

    async fn put(&self, key: &str, data: Bytes) -> Result<()> {
        let mut m = self.map.lock().unwrap();
        if m.contains_key(key) {
            return Err(Error::new(ErrorKind::AlreadyExists, format!("{key} already exists")));
        }
        // A copy: the pipelines hand out pooled buffers that must come back (Backend::put).
        m.insert(key.to_string(), (Bytes::copy_from_slice(&data), std::time::SystemTime::now()));
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Bytes> {
        self.map
            .lock()
            .unwrap()
            .get(key)
            .map(|(b, _)| b.clone())
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("{key} not found")))
    }

    async fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Bytes> {
        let b = self.get(key).await?;
        let end = offset.checked_add(len).filter(|e| *e <= b.len() as u64);
        match end {
            Some(end) => Ok(b.slice(offset as usize..end as usize)),
            None => Err(Error::corrupt(format!("{key} is shorter than expected"))),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let m = self.map.lock().unwrap();
        Ok(m.range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, (v, t))| ObjectInfo { key: k.clone(), size: v.len() as u64, modified: Some(*t) })
            .collect())
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.map.lock().unwrap().remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn conformance() {
        super::super::testsuite::run(&super::MemoryBackend::new()).await;
    }
}
