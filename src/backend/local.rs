//! Local disk / NFS backend.
//!
//! A put writes a hidden temporary file next to the target, syncs it, then `link(2)`s it to
//! the final name, which fails if the name exists: the create-only guarantee comes from the
//! file system, and a crash leaves only a hidden temporary file that listing ignores.
//! Blocking file calls run on tokio's blocking pool. Packs may instead be staged: written to a
//! hidden file while they are built, then synced and linked the same way at commit.
//!
//! NFS: `link(2)` is an NFSv3/v4 procedure that fails with EEXIST when the name exists, so the
//! create-only guarantee holds across clients; a mount without hard links gets a clear error.
//!
//! Directories are created on demand and left in place, except a lease's own directory
//! (`leases/<id>/`, `gc/leases/<id>/`): one is made per push, pull and gc, so deleting a lease's
//! last object removes its emptied directory (only its holder writes there, and only while it
//! is alive; `rmdir` never removes a directory that still holds a file).

use super::{Backend, ObjectInfo, StagedObject};
use crate::error::{Error, ErrorKind, Result};
use async_trait::async_trait;
use bytes::Bytes;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Prefixes under which every lease has its own directory, removed with its last object.
const LEASE_DIRS: [&str; 2] = ["leases/", "gc/leases/"];

/// Objects stored as files under a root directory.
#[derive(Debug, Clone)]
pub struct LocalBackend {
    root: PathBuf,
}

impl LocalBackend {
    /// A backend rooted at `root` (created on first write if missing).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalBackend { root: root.into() }
    }

    fn path(&self, key: &str) -> Result<PathBuf> {
        object_path(&self.root, key)
    }
}

/// The file of `key` under `root`; refuses keys that could leave `root` or name a hidden file.
fn object_path(root: &Path, key: &str) -> Result<PathBuf> {
    if key.is_empty() || key.split('/').any(|p| p.is_empty() || p == "." || p == ".." || p.starts_with('.')) {
        return Err(Error::invalid(format!("invalid object key '{key}'")));
    }
    Ok(root.join(key))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("blocking file task failed: {e}")))?
}

/// Write `data` under `path` create-only and durably. The buffer is dropped as soon as it is in
/// the page cache, before the fsync: a caller that recycles buffers (the push pipeline's pack
/// pool) gets it back without waiting for the disk.
fn put_sync(path: &Path, data: Bytes) -> Result<()> {
    let dir = path.parent().expect("object path has a parent");
    create_dir(dir)?;
    let name = path.file_name().unwrap().to_string_lossy();
    let (tmp, mut f) = create_temp(dir, &name)?;
    let res = f.write_all(&data).map_err(|e| Error::io(format!("writing {}", tmp.display()), e));
    drop(data);
    let res = res.and_then(|()| link_durably(f, &tmp, path));
    let _ = std::fs::remove_file(&tmp);
    res
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating directory {}", dir.display()), e))
}

/// A new hidden file `.<name>.tmp-<random>` in `dir` (listing skips dot-files).
fn create_temp(dir: &Path, name: &str) -> Result<(PathBuf, std::fs::File)> {
    let mut rnd = [0u8; 8];
    crate::crypto::random_bytes(&mut rnd);
    let tmp = dir.join(format!(".{name}.tmp-{}", crate::crypto::keyfile::hex(&rnd)));
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| Error::io(format!("creating {}", tmp.display()), e))?;
    Ok((tmp, f))
}

/// Sync the written temporary file `f` (at `tmp`), then `link(2)` it to `path`, which fails if
/// `path` exists, and sync the directory entry. The caller removes `tmp` afterwards.
fn link_durably(f: std::fs::File, tmp: &Path, path: &Path) -> Result<()> {
    f.sync_all().map_err(|e| Error::io(format!("syncing {}", tmp.display()), e))?;
    drop(f);
    std::fs::hard_link(tmp, path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::new(ErrorKind::AlreadyExists, format!("{} already exists", path.display()))
        } else if matches!(e.raw_os_error(), Some(libc_eperm) if libc_eperm == 1 || libc_eperm == 95) {
            // EPERM / EOPNOTSUPP: the file system has no hard links (some SMB/FUSE mounts).
            Error::new(
                ErrorKind::Unsupported,
                format!(
                    "linking {}: this file system does not support hard links, which create-only \
                     writes need (NFSv3/v4 and local file systems do): {e}",
                    path.display()
                ),
            )
        } else {
            Error::io(format!("linking {}", path.display()), e)
        }
    })?;
    // Make the new directory entry durable (best effort: not every file system allows it).
    if let Ok(d) = std::fs::File::open(path.parent().expect("object path has a parent")) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Bytes written to a staged file between two background flushes.
const FLUSH_EVERY: u64 = 4 << 20;

/// A pack being written straight into a hidden file under its prefix directory. Every
/// [`FLUSH_EVERY`] bytes a helper thread `fdatasync`s what is written so far (one at a time), so
/// the disk works while the pack fills and the commit's final sync has little left to do.
struct LocalStaged {
    root: PathBuf,
    tmp: PathBuf,
    file: Option<std::fs::File>,
    unflushed: u64,
    flushing: Option<std::thread::JoinHandle<()>>,
}

impl StagedObject for LocalStaged {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        let f = self.file.as_mut().expect("staged file is open until commit");
        f.write_all(data).map_err(|e| Error::io(format!("writing {}", self.tmp.display()), e))?;
        self.unflushed += data.len() as u64;
        if self.unflushed >= FLUSH_EVERY && self.flushing.as_ref().is_none_or(|h| h.is_finished()) {
            self.unflushed = 0;
            // Best effort: the commit's sync_all reports any error that matters.
            if let Ok(clone) = f.try_clone() {
                self.flushing = std::thread::Builder::new()
                    .name("kando-flush".into())
                    .spawn(move || {
                        let _ = clone.sync_data();
                    })
                    .ok();
            }
        }
        Ok(())
    }

    fn commit(mut self: Box<Self>, key: &str) -> Result<()> {
        let path = object_path(&self.root, key)?;
        create_dir(path.parent().expect("object path has a parent"))?;
        if let Some(h) = self.flushing.take() {
            let _ = h.join();
        }
        let f = self.file.take().expect("staged file is open until commit");
        link_durably(f, &self.tmp, &path)
        // Drop removes the temporary name; the data stays reachable under `path`.
    }
}

impl Drop for LocalStaged {
    fn drop(&mut self) {
        self.file.take();
        let _ = std::fs::remove_file(&self.tmp);
    }
}

fn list_sync(root: &Path, prefix: &str) -> Result<Vec<ObjectInfo>> {
    // Walk the deepest directory that the prefix names fully, then filter by prefix.
    let dir_part = match prefix.rfind('/') {
        Some(i) => &prefix[..i],
        None => "",
    };
    let start = if dir_part.is_empty() { root.to_path_buf() } else { root.join(dir_part) };
    let mut out = Vec::new();
    let mut stack = vec![(start, dir_part.to_string())];
    while let Some((dir, rel)) = stack.pop() {
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(format!("listing {}", dir.display()), e)),
        };
        for ent in rd {
            let ent = ent.map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
            let name = ent.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let key = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            // An object deleted between the directory read and the stat (a lease released, a
            // pack swept by gc) is simply not listed.
            let ft = match ent.file_type() {
                Ok(ft) => ft,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(format!("stat {}", ent.path().display()), e)),
            };
            if ft.is_dir() {
                if key.starts_with(prefix) || prefix.starts_with(&format!("{key}/")) {
                    stack.push((ent.path(), key));
                }
            } else if key.starts_with(prefix) {
                let md = match ent.metadata() {
                    Ok(md) => md,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(Error::io(format!("stat {}", ent.path().display()), e)),
                };
                out.push(ObjectInfo { key, size: md.len(), modified: md.modified().ok() });
            }
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

#[async_trait]
impl Backend for LocalBackend {
    fn location(&self) -> String {
        format!("filestore:{}", self.root.display())
    }

    fn is_local(&self) -> bool {
        true
    }

    async fn put(&self, key: &str, data: Bytes) -> Result<()> {
        let path = self.path(key)?;
        blocking(move || put_sync(&path, data)).await
    }

    fn stage(&self, prefix: &str) -> Result<Option<Box<dyn StagedObject>>> {
        // A key under `prefix` lands in `prefix`'s directory or below it: one file system, so
        // the commit can link(2) the temporary file into place.
        let dir = match prefix.rfind('/') {
            Some(i) => self.path(&prefix[..i])?,
            None => self.root.clone(),
        };
        create_dir(&dir)?;
        let (tmp, file) = create_temp(&dir, "staged")?;
        Ok(Some(Box::new(LocalStaged { root: self.root.clone(), tmp, file: Some(file), unflushed: 0, flushing: None })))
    }

    async fn get(&self, key: &str) -> Result<Bytes> {
        let path = self.path(key)?;
        blocking(move || {
            std::fs::read(&path).map(Bytes::from).map_err(|e| Error::io(format!("reading {}", path.display()), e))
        })
        .await
    }

    async fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Bytes> {
        let path = self.path(key)?;
        blocking(move || {
            let ctx = || format!("reading {} bytes at {offset} of {}", len, path.display());
            let mut f = std::fs::File::open(&path).map_err(|e| Error::io(ctx(), e))?;
            f.seek(SeekFrom::Start(offset)).map_err(|e| Error::io(ctx(), e))?;
            // read_to_end into reserved capacity: no zero-fill of a buffer about to be overwritten.
            let mut buf = Vec::with_capacity(len as usize);
            f.take(len).read_to_end(&mut buf).map_err(|e| Error::io(ctx(), e))?;
            if buf.len() as u64 != len {
                return Err(Error::corrupt(format!("{} is shorter than expected", path.display())));
            }
            Ok(Bytes::from(buf))
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let root = self.root.clone();
        let prefix = prefix.to_string();
        blocking(move || list_sync(&root, &prefix)).await
    }

    async fn size(&self, key: &str) -> Result<Option<u64>> {
        let path = self.path(key)?;
        blocking(move || match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        let lease_dir = LEASE_DIRS.iter().any(|p| key.strip_prefix(p).is_some_and(|r| r.matches('/').count() == 1));
        blocking(move || {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(format!("deleting {}", path.display()), e)),
            }
            if lease_dir {
                // Fails (and is ignored) while the directory holds any file.
                let _ = std::fs::remove_dir(path.parent().expect("object path has a parent"));
            }
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path().join("repo"));
        super::super::testsuite::run(&b).await;
        // No temporary file survives a put, a staged commit or a dropped staged object.
        let mut stack = vec![dir.path().join("repo")];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                assert!(!e.file_name().to_string_lossy().starts_with('.'), "left behind: {}", e.path().display());
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                }
            }
        }
    }

    #[tokio::test]
    async fn deleting_a_leases_last_object_removes_its_directory_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path().join("repo"));
        for k in ["leases/aa/0", "leases/aa/1", "gc/leases/bb/0", "packs/cc/x"] {
            b.put(k, Bytes::from_static(b"x")).await.unwrap();
        }
        b.delete("leases/aa/0").await.unwrap();
        assert!(dir.path().join("repo/leases/aa").is_dir(), "still holds an object");
        b.delete("leases/aa/1").await.unwrap();
        b.delete("gc/leases/bb/0").await.unwrap();
        b.delete("packs/cc/x").await.unwrap();
        assert!(!dir.path().join("repo/leases/aa").exists());
        assert!(!dir.path().join("repo/gc/leases/bb").exists());
        assert!(dir.path().join("repo/leases").is_dir() && dir.path().join("repo/gc/leases").is_dir());
        assert!(dir.path().join("repo/packs/cc").is_dir(), "other directories stay");
        // A new object in a removed lease directory is written as before.
        b.put("leases/aa/2", Bytes::from_static(b"y")).await.unwrap();
        assert_eq!(&b.get("leases/aa/2").await.unwrap()[..], b"y");
    }

    #[tokio::test]
    async fn a_staged_commit_refuses_an_escaping_key() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path().join("repo"));
        let mut st = b.stage("packs/").unwrap().unwrap();
        st.write(b"x").unwrap();
        assert_eq!(st.commit("packs/../../x").unwrap_err().kind(), ErrorKind::InvalidInput);
        assert!(!dir.path().join("x").exists());
    }

    #[tokio::test]
    async fn rejects_escaping_keys() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path());
        for k in ["../x", "a/../../x", "", "/abs", ".hidden", "a//b"] {
            assert_eq!(b.put(k, Bytes::from_static(b"x")).await.unwrap_err().kind(), ErrorKind::InvalidInput, "{k}");
        }
    }
}
