//! The commands: resolve arguments, call the library, print results.

use crate::args::{Cli, Cmd, LocationCmd, ProgressMode, RepoArgs};
use crate::output;
use crate::producer::CommandReader;
use crate::progress::{Op, Reporter};
use anyhow::{Context, Result, bail};
use kanrepo::ErrorKind;
use kanrepo::backend::Backend;
use kanrepo::backend::cloud::CloudSpec;
use kanrepo::profile::Profile;
use kanrepo::{InitOptions, Progress, PullOptions, PushOptions, Repository};
use std::io::{IsTerminal, Read, Write};
use std::sync::Arc;
use std::time::Instant;

/// Run a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    if let Cmd::Output { key, value } = &cli.cmd {
        return output::print(key, value);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("kando-io")
        .enable_all()
        .build()
        .context("starting the I/O runtime")?;
    rt.block_on(async move {
        match cli.cmd {
            Cmd::Output { .. } => unreachable!(),
            Cmd::Location { cmd } => location(cmd).await,
            Cmd::Repository { cmd } => crate::repo_cmds::run(cmd).await,
        }
    })
}

/// The backend that --profile or --repo names.
pub(crate) fn backend(r: &RepoArgs) -> Result<Arc<dyn Backend>> {
    match (&r.profile, &r.repo) {
        (Some(p), _) => Ok(Profile::parse(p)?.backend()?),
        (None, Some(url)) if url.contains("://") => Ok(Arc::new(CloudSpec::from_url(url)?.open()?)),
        (None, Some(dir)) => Ok(Profile::filestore(dir).backend()?),
        (None, None) => bail!("no location: pass --profile '<profile JSON>' or --repo <directory or URL>"),
    }
}

pub(crate) fn password(r: &RepoArgs) -> Result<Vec<u8>> {
    let pw = if let Some(f) = &r.password_file {
        let mut s = std::fs::read(f).with_context(|| format!("reading password file {}", f.display()))?;
        while s.last().is_some_and(|c| *c == b'\n' || *c == b'\r') {
            s.pop();
        }
        s
    } else if let Some(p) = std::env::var_os("KANDO_REPOSITORY_PASSWORD") {
        p.into_encoded_bytes()
    } else {
        bail!("no repository password: set KANDO_REPOSITORY_PASSWORD or pass --password-file");
    };
    if pw.is_empty() {
        bail!("the repository password is empty");
    }
    Ok(pw)
}

pub(crate) async fn open(r: &RepoArgs) -> Result<Repository> {
    let backend = backend(r)?;
    Ok(Repository::open(backend, &password(r)?).await?)
}

async fn location(cmd: LocationCmd) -> Result<()> {
    match cmd {
        LocationCmd::Push {
            repo,
            path,
            output_name,
            from_command,
            tags,
            uploads,
            no_auto_maintenance,
            progress,
            source,
        } => {
            output::line(&output_name, "")?;
            let backend = backend(&repo)?;
            let (r, created) = Repository::open_or_init(backend, &password(&repo)?, &InitOptions::default()).await?;
            if created {
                tracing::info!("created a new repository at {}", r.location());
            }
            let reader: Box<dyn Read + Send> = match (from_command, source.as_deref()) {
                (Some(cmd), _) => Box::new(CommandReader::spawn(&cmd)?),
                (None, Some("-")) => {
                    if std::io::stdin().is_terminal() {
                        bail!("refusing to read the stream from a terminal: pipe it in, or give a file");
                    }
                    Box::new(std::io::stdin())
                }
                (None, Some(f)) => Box::new(std::fs::File::open(f).with_context(|| format!("opening {f}"))?),
                (None, None) => bail!("give a source file, '-' for stdin, or --from-command"),
            };
            let opts = PushOptions { path: path.clone(), tags, uploads: uploads as usize, ..PushOptions::default() };
            let p = Arc::new(Progress::default());
            let t0 = Instant::now();
            // The controller shows a percentage: the previous snapshot of this path is the
            // estimate of this one's size (nightly dumps of one database).
            let estimate = match progress {
                ProgressMode::Kanister if !created => r.latest(&path).await.ok().map(|e| e.snapshot.size),
                _ => None,
            };
            let rep = Reporter::start(progress, Op::Push, p.clone(), estimate);
            let res = r.push(reader, &opts, p.clone()).await;
            drop(rep);
            let (id, snap) = res.with_context(|| format!("pushing '{path}' to {}", r.location()))?;
            let secs = t0.elapsed().as_secs_f64();
            if progress != ProgressMode::None {
                eprintln!(
                    "kando: snapshot {} of '{}': {:.1} MB in {:.1} s ({:.0} MB/s), {:.1} MB new, {:.1} MB stored",
                    id.short(),
                    path,
                    snap.size as f64 / 1e6,
                    secs,
                    snap.size as f64 / 1e6 / secs.max(1e-9),
                    snap.stats.new_bytes as f64 / 1e6,
                    snap.stats.stored_bytes as f64 / 1e6
                );
            }
            let value = serde_json::json!({
                "id": id.to_hex(), "path": path, "logicalSize": snap.size, "physicalSize": snap.stats.stored_bytes
            });
            output::print(&output_name, &value.to_string())?;
            crate::repo_cmds::auto_maintain(&r, no_auto_maintenance).await;
            Ok(())
        }
        LocationCmd::Pull { repo, path, snapshot, downloads, verify_stream, progress, target } => {
            let backend = backend(&repo)?;
            let r = open_if_any(&repo, &backend).await?;
            if r.is_none() && snapshot.is_some() {
                bail!("no repository at {} (no config object)", backend.location());
            }
            let entry = match (&r, &snapshot) {
                (Some(r), Some(s)) => {
                    let e = r.find_snapshot(&snapshot_id(s)?).await?;
                    if e.snapshot.path != path {
                        bail!("snapshot {} has path '{}', not '{path}'", e.id.short(), e.snapshot.path);
                    }
                    Some(e)
                }
                (Some(r), None) => match r.latest(&path).await {
                    Ok(e) => Some(e),
                    Err(e) if e.kind() == ErrorKind::NotFound => None,
                    Err(e) => return Err(e.into()),
                },
                (None, _) => None,
            };
            let p = Arc::new(Progress::default());
            let Some(entry) = entry else {
                // No snapshot of this path: a plain object that upstream kando pushed?
                return pull_legacy(backend, r.is_some(), &path, &target, progress, p).await;
            };
            let r = r.expect("a snapshot comes from an open repository");
            let (out, finish) = open_target(&target)?;
            let rep = Reporter::start(progress, Op::Pull, p.clone(), Some(entry.snapshot.size));
            let popts = PullOptions { threads: downloads as usize, verify_stream, ..PullOptions::default() };
            let res = r.pull(&entry.snapshot, out, &popts, p).await;
            drop(rep);
            finish(res.is_ok())?;
            res.with_context(|| format!("pulling '{path}' (snapshot {}) from {}", entry.id.short(), r.location()))?;
            Ok(())
        }
        LocationCmd::Delete { repo, path, snapshot: Some(snap), no_auto_maintenance } => {
            let backend = backend(&repo)?;
            let Some(r) = open_if_any(&repo, &backend).await? else {
                bail!("no repository at {} (no config object)", backend.location());
            };
            let e = r.find_snapshot(&snapshot_id(&snap)?).await?;
            if e.snapshot.path != path {
                bail!("snapshot {} has path '{}', not '{path}'", e.id.short(), e.snapshot.path);
            }
            r.delete_snapshot(&e.id).await?;
            eprintln!("kando: deleted snapshot {} of '{path}'", e.id.short());
            crate::repo_cmds::auto_maintain(&r, no_auto_maintenance).await;
            Ok(())
        }
        LocationCmd::Delete { repo, path, snapshot: None, no_auto_maintenance } => {
            let backend = backend(&repo)?;
            let mut removed = 0;
            let r = open_if_any(&repo, &backend).await?;
            if let Some(r) = &r {
                removed += r.delete_path(&path).await?.len();
            }
            let plain = kanrepo::legacy::delete(backend.as_ref(), &path).await?;
            match (removed, plain) {
                (0, 0) => eprintln!("kando: nothing stored under '{path}' in {}; nothing deleted", backend.location()),
                (n, 0) => eprintln!("kando: deleted {n} snapshot(s) of '{path}'"),
                (n, m) => eprintln!("kando: deleted {n} snapshot(s) and {m} plain object(s) of '{path}'"),
            }
            if let Some(r) = &r {
                crate::repo_cmds::auto_maintain(r, no_auto_maintenance).await;
            }
            Ok(())
        }
    }
}

/// A snapshot id from `--snapshot`: the id (or a prefix) itself, or the `"id"` of the JSON
/// phase output a push printed (`{"id":"…","path":…}`).
pub(crate) fn snapshot_id(s: &str) -> Result<String> {
    let t = s.trim();
    if !t.starts_with('{') {
        return Ok(t.to_string());
    }
    let v: serde_json::Value =
        serde_json::from_str(t).with_context(|| format!("--snapshot '{t}' is neither an id nor push's JSON output"))?;
    match v.get("id").and_then(|i| i.as_str()) {
        Some(id) => Ok(id.to_string()),
        None => bail!("--snapshot JSON has no \"id\": {t}"),
    }
}

/// The repository at `backend`, or `None` if there is none. The password is required only
/// when a repository exists: plain objects written by upstream kando need none.
async fn open_if_any(r: &RepoArgs, backend: &Arc<dyn Backend>) -> Result<Option<Repository>> {
    let pw = password(r);
    match Repository::open(backend.clone(), pw.as_deref().unwrap_or_default()).await {
        Ok(repo) => Ok(Some(repo)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(match pw {
            Err(missing) => missing,
            Ok(_) => e.into(),
        }),
    }
}

async fn pull_legacy(
    backend: Arc<dyn Backend>,
    have_repo: bool,
    path: &str,
    target: &str,
    progress: ProgressMode,
    p: Arc<Progress>,
) -> Result<()> {
    let loc = backend.location();
    let found = match kanrepo::legacy::object_key(path) {
        Some(key) => kanrepo::legacy::find(backend.as_ref(), &key).await?.map(|size| (key, size)),
        None => None,
    };
    let Some((key, size)) = found else {
        if have_repo {
            bail!("no snapshot with path '{path}' in {loc}, and no plain object at that path");
        }
        bail!("no repository at {loc}, and no plain object at path '{path}'");
    };
    tracing::info!(
        "no snapshot of '{path}': restoring the plain object {key} ({size} bytes) written by upstream kando"
    );
    let (mut out, finish) = open_target(target)?;
    let rep = Reporter::start(progress, Op::Pull, p.clone(), Some(size));
    let res = kanrepo::legacy::copy_to(backend, &key, size, out.as_mut(), &p).await;
    drop(rep);
    drop(out);
    finish(res.is_ok())?;
    res.with_context(|| format!("pulling the plain object '{key}' from {loc}"))?;
    Ok(())
}

type Finish = Box<dyn FnOnce(bool) -> Result<()>>;

/// The output of a pull and what to do when it ends: regular files are written under a
/// temporary name and renamed only on success; stdout and devices are written directly.
fn open_target(target: &str) -> Result<(Box<dyn Write + Send>, Finish)> {
    use std::os::unix::fs::OpenOptionsExt;
    if target == "-" {
        return Ok((Box::new(std::io::BufWriter::with_capacity(1 << 20, std::io::stdout())), Box::new(|_| Ok(()))));
    }
    let path = std::path::PathBuf::from(target);
    if let Ok(m) = std::fs::metadata(&path)
        && !m.is_file()
    {
        let f = std::fs::OpenOptions::new().write(true).open(&path).with_context(|| format!("opening {target}"))?;
        return Ok((Box::new(f), Box::new(|_| Ok(()))));
    }
    let name = path.file_name().context("the pull target has no file name")?.to_string_lossy().into_owned();
    let tmp = path.with_file_name(format!(".{name}.kando-partial-{}", std::process::id()));
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o755)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    let finish = move |ok: bool| -> Result<()> {
        if ok {
            std::fs::rename(&tmp, &path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
        } else {
            let _ = std::fs::remove_file(&tmp);
            Ok(())
        }
    };
    Ok((Box::new(std::io::BufWriter::with_capacity(1 << 20, f)), Box::new(finish)))
}
