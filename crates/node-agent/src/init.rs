//! The hidden subcommands the agent re-executes itself as, inside a pod's namespaces:
//!
//! * `__container-init SPEC` runs as PID 1 of a fresh PID + mount + UTS namespace (made by
//!   `unshare --mount --pid --uts --fork --mount-proc`): it binds every volume, the hosts
//!   file and the directories on the pods' PATH (last, so no volume hides them), sets the
//!   pod's hostname,
//!   drops to the container's user, starts the container command as its child, forwards
//!   termination signals to it, reaps orphans and exits with the command's status (which
//!   tears the namespace down, killing whatever the command left behind). The command is
//!   started through `__container-exec`, which clears the signal mask PID 1 needs.
//! * `__container-exec -- ARGV...` (the spec as JSON in `KANREPO_CONTAINER_SPEC`) runs as PID
//!   1's child and after `nsenter --mount --pid --uts` into a running container: it clears the signal
//!   mask, takes the container's user, environment and working directory and `exec`s ARGV (the
//!   container command, kubectl exec, exec readiness probes). The spec travels in the
//!   environment because a volume may be mounted over the state directory inside the container.
//!
//! Both run before any async runtime exists and print their own failures to stderr (the
//! container log) with exit code 127. They must not talk to the API server.

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use nix::mount::{MsFlags, mount};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Gid, Pid, Uid, setgid, setgroups, setuid};

use crate::procspec::{MountSpec, ProcSpec};

/// Exit code when the container could not be set up or its program not started.
const SETUP_FAILED: i32 = 127;

fn fail(what: &str, err: impl std::fmt::Display) -> ! {
    eprintln!("kanrepo-node-agent: {what}: {err}");
    std::process::exit(SETUP_FAILED)
}

/// The environment variable carrying the spec (JSON) to `__container-exec`.
pub const SPEC_ENV: &str = "KANREPO_CONTAINER_SPEC";

/// `__container-init SPEC`; never returns.
pub fn container_init(args: &[String]) -> ! {
    let [spec_path] = args else { fail("usage", "__container-init SPEC") };
    let spec = ProcSpec::read(Path::new(spec_path)).unwrap_or_else(|e| fail("reading the container spec", e));
    let json = serde_json::to_string(&spec).unwrap_or_else(|e| fail("encoding the container spec", e));
    let mut mounts = spec.mounts.clone();
    if let Some(hosts) = &spec.hosts_file {
        mounts.push(MountSpec { source: hosts.clone(), target: "/etc/hosts".into(), read_only: true });
    }
    // The tools on PATH last, so no volume hides them.
    for (i, dir) in spec.tools.iter().enumerate() {
        let target = std::path::PathBuf::from(format!("{}/{i}", crate::args::POD_TOOLS_ROOT));
        mounts.push(MountSpec { source: dir.clone(), target, read_only: true });
    }
    // Open every source before the first mount, which could hide a later source's host path.
    let sources: Vec<std::fs::File> = mounts
        .iter()
        .map(|m| std::fs::File::open(&m.source).unwrap_or_else(|e| fail(&format!("opening {}", m.source.display()), e)))
        .collect();
    for (m, src) in mounts.iter().zip(&sources) {
        bind(m, src).unwrap_or_else(|e| fail(&format!("mounting {} at {}", m.source.display(), m.target.display()), e));
    }
    drop(sources);
    if let Some(h) = spec.hostname.as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).unwrap_or_else(|e| fail("setting the hostname", e));
    }
    let workdir = spec.working_dir.clone().unwrap_or_else(|| "/".into());
    if let Err(e) = std::fs::create_dir_all(&workdir) {
        fail(&format!("creating the working directory {workdir}"), e);
    }
    // Block the signals PID 1 handles: blocked signals are queued even for a namespace's init
    // (whose default-disposition signals the kernel would otherwise drop), and sigwait takes them.
    // The child inherits the mask, so it is this binary again (`__container-exec`), which clears
    // the mask, takes the container's user and execs the command.
    let mut set = SigSet::empty();
    for s in FORWARDED.iter().chain([&Signal::SIGCHLD]) {
        set.add(*s);
    }
    set.thread_block().unwrap_or_else(|e| fail("blocking signals", e));
    let child = Command::new("/proc/self/exe")
        .arg("__container-exec")
        .arg("--")
        .args(&spec.argv)
        .env(SPEC_ENV, json)
        .spawn()
        .unwrap_or_else(|e| fail("starting __container-exec", e));
    let main = Pid::from_raw(child.id() as i32);
    drop(child); // reaped below with waitpid(-1): PID 1 reaps every orphan too
    loop {
        let sig = set.wait().unwrap_or_else(|e| fail("waiting for signals", e));
        if sig != Signal::SIGCHLD {
            let _ = kill(main, sig);
            continue;
        }
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == main => std::process::exit(code),
                Ok(WaitStatus::Signaled(pid, sig, _)) if pid == main => std::process::exit(128 + sig as i32),
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
}

/// Signals PID 1 passes on to the container command.
const FORWARDED: [Signal; 6] =
    [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGQUIT, Signal::SIGUSR1, Signal::SIGUSR2];

/// `__container-exec -- ARGV...` with the spec in [`SPEC_ENV`]; never returns.
pub fn container_exec(args: &[String]) -> ! {
    let argv = match args {
        [dashdash, argv @ ..] if dashdash == "--" && !argv.is_empty() => argv,
        _ => fail("usage", "__container-exec -- COMMAND [ARG...]"),
    };
    let json = std::env::var(SPEC_ENV).unwrap_or_else(|e| fail(&format!("reading {SPEC_ENV}"), e));
    let spec: ProcSpec = serde_json::from_str(&json).unwrap_or_else(|e| fail("decoding the container spec", e));
    // A fresh signal mask (PID 1 runs with its signals blocked and passes the mask on).
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None).unwrap_or_else(|e| fail("signal mask", e));
    drop_privileges(&spec).unwrap_or_else(|e| fail("switching user", e));
    let workdir = spec.working_dir.clone().unwrap_or_else(|| "/".into());
    let err = command(&spec, argv, &workdir).exec();
    fail(&format!("exec {:?}", argv[0]), err)
}

fn command(spec: &ProcSpec, argv: &[String], workdir: &str) -> Command {
    let mut cmd = Command::new(argv.first().map(String::as_str).unwrap_or("/bin/false"));
    cmd.args(argv.iter().skip(1)).env_clear().envs(spec.env.iter().map(|(k, v)| (k, v))).current_dir(workdir);
    cmd
}

fn drop_privileges(spec: &ProcSpec) -> nix::Result<()> {
    let Some(uid) = spec.uid else {
        if let Some(gid) = spec.gid {
            setgid(Gid::from_raw(gid))?;
        }
        if !spec.groups.is_empty() {
            setgroups(&spec.groups.iter().map(|g| Gid::from_raw(*g)).collect::<Vec<_>>())?;
        }
        return Ok(());
    };
    let gid = spec.gid.or_else(|| primary_gid(uid)).unwrap_or(uid);
    let mut groups: Vec<Gid> = vec![Gid::from_raw(gid)];
    groups.extend(spec.groups.iter().map(|g| Gid::from_raw(*g)));
    setgroups(&groups)?;
    setgid(Gid::from_raw(gid))?;
    setuid(Uid::from_raw(uid))
}

/// The primary group of `uid` in /etc/passwd.
pub fn primary_gid(uid: u32) -> Option<u32> {
    passwd_entry(uid).map(|(gid, _)| gid)
}

/// (gid, home) of `uid` in /etc/passwd.
pub fn passwd_entry(uid: u32) -> Option<(u32, String)> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 6 && f[2].parse() == Ok(uid))
            .then(|| (f[3].parse().ok(), f[5].to_string()))
            .and_then(|(g, h)| Some((g?, h)))
    })
}

/// Binds the opened source `src` (`m.source`) at `m.target` (creating the target like the
/// source: a directory or an empty file), read-only if asked.
fn bind(m: &MountSpec, src: &std::fs::File) -> anyhow::Result<()> {
    let meta = src.metadata()?;
    if meta.is_dir() {
        std::fs::create_dir_all(&m.target)?;
    } else if !m.target.exists() {
        if let Some(parent) = m.target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::OpenOptions::new().create(true).append(true).open(&m.target)?;
    }
    let from = format!("/proc/self/fd/{}", src.as_raw_fd());
    mount(Some(from.as_str()), &m.target, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)?;
    if m.read_only {
        mount(
            None::<&str>,
            &m.target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )?;
    }
    Ok(())
}
