//! `kando repository key add|list|remove|passwd`: passwords of a repository (key objects that
//! wrap the same master key).
//!
//! The current password comes from `--password-file` or `KANDO_REPOSITORY_PASSWORD` as for
//! every command; a new one only from `--new-password-file` or
//! `KANDO_NEW_REPOSITORY_PASSWORD`, never from the command line (argv is visible to every
//! user of the machine). Neither password is ever printed. The rules (never remove the last
//! key, the key in use only with --force, passwd adds before it removes) live in the engine
//! (`kanrepo::repo::keys`); this file parses, reads passwords and prints.

use crate::args::RepoArgs;
use crate::commands::{backend, password};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use kanrepo::crypto::keyfile::KdfParams;
use kanrepo::repo::KeyInfo;
use kanrepo::{ErrorKind, Repository};
use std::io::Write;
use std::path::PathBuf;

/// Environment variable holding the new password of `key add` and `key passwd`.
const NEW_PASSWORD_ENV: &str = "KANDO_NEW_REPOSITORY_PASSWORD";

/// Key management.
#[derive(Subcommand, Debug)]
pub enum KeyCmd {
    /// List the key objects: id, creation time, argon2id cost, and which one the password opens
    /// ("in use"). Key objects of other passwords are listed too; only their password can tell
    /// whether they open the repository.
    List {
        #[command(flatten)]
        repo: RepoArgs,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Add a password: a new key object wrapping the same master key, checked to open the
    /// repository. The new password comes from --new-password-file or
    /// $KANDO_NEW_REPOSITORY_PASSWORD.
    Add {
        #[command(flatten)]
        repo: RepoArgs,
        #[command(flatten)]
        new: NewPassword,
    },
    /// Remove a key object by id (or a prefix of at least 6 characters). The last key object
    /// that opens the repository is never removed; the one in use only with --force.
    Remove {
        #[command(flatten)]
        repo: RepoArgs,
        /// Key object id, or a prefix of it (`kando repository key list` shows them).
        id: String,
        /// Also remove the key object of the password in use (another password must then open
        /// the repository).
        #[arg(long)]
        force: bool,
    },
    /// Change the password in use: add a key object for the new password, check that it opens
    /// the repository, then remove the key objects of the old password (interrupted, the old or
    /// the new password still opens it). The new password
    /// comes from --new-password-file or $KANDO_NEW_REPOSITORY_PASSWORD; giving the same
    /// password with other --kdf-* values re-wraps it at that cost.
    Passwd {
        #[command(flatten)]
        repo: RepoArgs,
        #[command(flatten)]
        new: NewPassword,
    },
}

/// The new password and its argon2id cost.
#[derive(Args, Debug)]
pub struct NewPassword {
    /// File holding the new password (else $KANDO_NEW_REPOSITORY_PASSWORD). Never taken from
    /// the command line.
    #[arg(long, value_name = "FILE")]
    new_password_file: Option<PathBuf>,
    /// argon2id memory for the new key object, in MiB (as for `repository init`).
    #[arg(long, default_value_t = 19, value_parser = clap::value_parser!(u32).range(1..=4096))]
    kdf_memory_mib: u32,
    /// argon2id passes over that memory.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=100))]
    kdf_passes: u32,
    /// argon2id lanes; each runs on its own thread.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    kdf_lanes: u32,
}

impl NewPassword {
    fn kdf(&self) -> KdfParams {
        KdfParams { memory_kib: self.kdf_memory_mib * 1024, iterations: self.kdf_passes, parallelism: self.kdf_lanes }
    }

    /// The new password, from the file or the environment, trailing newlines removed.
    fn read(&self) -> Result<Vec<u8>> {
        let pw = if let Some(f) = &self.new_password_file {
            let mut s = std::fs::read(f).with_context(|| format!("reading new password file {}", f.display()))?;
            while s.last().is_some_and(|c| *c == b'\n' || *c == b'\r') {
                s.pop();
            }
            s
        } else if let Some(p) = std::env::var_os(NEW_PASSWORD_ENV) {
            p.into_encoded_bytes()
        } else {
            bail!(
                "no new password: set {NEW_PASSWORD_ENV} or pass --new-password-file FILE (a password is never \
                 taken from the command line)"
            );
        };
        if pw.is_empty() {
            bail!("the new password is empty");
        }
        Ok(pw)
    }
}

/// Location and password options may come before `key` or after the subcommand
/// (`kando repository key --repo R list` or `kando repository key list --repo R`); the later
/// ones win.
fn merge(outer: &RepoArgs, inner: RepoArgs) -> RepoArgs {
    let located = inner.profile.is_some() || inner.repo.is_some();
    RepoArgs {
        profile: if located { inner.profile } else { outer.profile.clone() },
        repo: if located { inner.repo } else { outer.repo.clone() },
        password_file: inner.password_file.or_else(|| outer.password_file.clone()),
    }
}

/// Open the repository, also returning the password (to check the other key objects).
async fn open(repo: &RepoArgs) -> Result<(Repository, Vec<u8>)> {
    let b = backend(repo)?;
    let pw = password(repo)?;
    let r = Repository::open(b, &pw).await.map_err(|e| {
        let hint = if e.kind() == ErrorKind::WrongPassword {
            " (the current password comes from --password-file or KANDO_REPOSITORY_PASSWORD)"
        } else {
            ""
        };
        anyhow::anyhow!("{e}{hint}")
    })?;
    Ok((r, pw))
}

fn kdf_text(k: &Option<KdfParams>) -> String {
    let Some(p) = k else { return "-".into() };
    let memory =
        if p.memory_kib % 1024 == 0 { format!("{} MiB", p.memory_kib / 1024) } else { format!("{} KiB", p.memory_kib) };
    let count = |n: u32, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!("{memory}, {}, {}", count(p.iterations, "pass", "passes"), count(p.parallelism, "lane", "lanes"))
}

fn print_list(keys: &[KeyInfo], json: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(keys)?)?;
        return Ok(());
    }
    writeln!(out, "  {:<10} {:<31} {:<28} state", "id", "created", "argon2id")?;
    for k in keys {
        let mark = if k.in_use { '*' } else { ' ' };
        let state = match &k.problem {
            Some(p) => format!("{}: {p}", k.state.describe()),
            None => k.state.describe().to_string(),
        };
        let created = k.created.as_deref().unwrap_or("-");
        writeln!(out, "{mark} {:<10} {:<31} {:<28} {state}", k.short(), created, kdf_text(&k.kdf))?;
    }
    writeln!(out, "{} key object(s); * = the one the given password opens (in use)", keys.len())?;
    Ok(())
}

/// Run a key command.
pub async fn run(outer: &RepoArgs, cmd: KeyCmd) -> Result<()> {
    match cmd {
        KeyCmd::List { repo, json } => {
            let (r, pw) = open(&merge(outer, repo)).await?;
            let keys = r.list_keys(Some(&pw)).await?;
            print_list(&keys, json)
        }
        KeyCmd::Add { repo, new } => {
            // Read the new password before the (slow) open, so a missing one fails at once.
            let new_pw = new.read()?;
            let (r, _) = open(&merge(outer, repo)).await?;
            let id = r
                .add_password(&new_pw, new.kdf())
                .await
                .with_context(|| format!("adding a key to {}", r.location()))?;
            let n = r.list_keys(None).await?.len();
            println!(
                "added key object {} (argon2id {}); the repository at {} has {n} key object(s)",
                id.short(),
                kdf_text(&Some(new.kdf())),
                r.location()
            );
            Ok(())
        }
        KeyCmd::Remove { repo, id, force } => {
            let (r, _) = open(&merge(outer, repo)).await?;
            let removed = r.remove_key(&id, force).await.map_err(|e| {
                // What to do next, in kando's terms (the engine's message says why).
                let msg = e.to_string();
                let hint = if msg.contains("the key in use") {
                    "; to change this password use `kando repository key passwd`, or pass --force if another \
                     password opens the repository"
                } else if msg.contains("the last key object") {
                    " (`kando repository key add`)"
                } else if e.kind() == ErrorKind::NotFound {
                    "; `kando repository key list` shows their ids"
                } else {
                    ""
                };
                anyhow::anyhow!("{e}{hint}")
            })?;
            let note = if removed.in_use { " (it was in use: the other passwords open the repository)" } else { "" };
            println!("removed key object {}{note}", removed.short());
            Ok(())
        }
        KeyCmd::Passwd { repo, new } => {
            let new_pw = new.read()?;
            let (mut r, pw) = open(&merge(outer, repo)).await?;
            let ch = r
                .change_password(&pw, &new_pw, new.kdf())
                .await
                .with_context(|| format!("changing the password of {}", r.location()))?;
            let removed: Vec<&str> = ch.removed.iter().map(|n| n.get(..8).unwrap_or(n)).collect();
            println!(
                "password changed: added key object {} (argon2id {}), removed key object(s) {}",
                ch.added.short(),
                kdf_text(&Some(new.kdf())),
                removed.join(", ")
            );
            Ok(())
        }
    }
}
