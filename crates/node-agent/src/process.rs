//! Host processes of containers: start one run (`[setpriv --pdeathsig KILL] unshare --mount
//! --pid --uts --fork --mount-proc --propagation private --kill-child -- AGENT __container-init SPEC`,
//! in its own process group, stdout and stderr appended to one log file), commands in a running
//! container (`nsenter --target INIT --mount --pid --uts -- /proc/1/exe __container-exec -- ARGV`),
//! signals, pid files, and killing what a previous agent run left behind. It must not decide
//! policy (restarts, grace periods): the pod worker does.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

/// Paths of the tools and of the agent itself.
#[derive(Debug, Clone)]
pub struct Tools {
    /// This binary (re-executed as `__container-init` / `__container-exec`).
    pub agent: PathBuf,
    /// util-linux `setpriv`, when present (kills runs when the agent dies).
    pub setpriv: Option<PathBuf>,
    /// util-linux `unshare`.
    pub unshare: PathBuf,
    /// util-linux `nsenter`.
    pub nsenter: PathBuf,
}

impl Tools {
    /// Finds the agent binary and checks for `unshare` / `nsenter`.
    pub fn discover() -> anyhow::Result<Self> {
        let agent = std::env::current_exe()?;
        let need = |t: &str| which(t).ok_or_else(|| anyhow::anyhow!("{t} (util-linux) is required on PATH"));
        Ok(Tools { agent, setpriv: which("setpriv"), unshare: need("unshare")?, nsenter: need("nsenter")? })
    }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Starts one run of a container; output appended to `log`.
pub fn spawn_container(tools: &Tools, spec: &Path, log: &Path) -> std::io::Result<Child> {
    let out = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
    let err = out.try_clone()?;
    let mut cmd = match &tools.setpriv {
        Some(sp) => {
            let mut c = Command::new(sp);
            c.args(["--pdeathsig", "KILL", "--"]).arg(&tools.unshare);
            c
        }
        None => Command::new(&tools.unshare),
    };
    cmd.args(["--mount", "--pid", "--uts", "--fork", "--mount-proc", "--propagation", "private", "--kill-child", "--"])
        .arg(&tools.agent)
        .arg("__container-init")
        .arg(spec)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .kill_on_drop(false);
    cmd.spawn()
}

/// A command in a running container's namespaces, as its user, with its env and working dir.
/// The program nsenter runs is `/proc/1/exe`: in the container's own /proc that is its init,
/// this very binary, even when a volume is mounted over the directory the agent lives in.
/// The spec (read from the host) travels in the environment.
pub fn exec_command(tools: &Tools, init_pid: u32, spec: &Path, argv: &[String]) -> std::io::Result<Command> {
    let json = std::fs::read_to_string(spec)?;
    let mut cmd = Command::new(&tools.nsenter);
    cmd.arg("--target")
        .arg(init_pid.to_string())
        .args(["--mount", "--pid", "--uts", "--", "/proc/1/exe", "__container-exec", "--"])
        .args(argv)
        .env_clear()
        .env(crate::init::SPEC_ENV, json);
    Ok(cmd)
}

/// The host pid of the namespace's init (`__container-init`), the only child of the run's
/// `unshare` process.
pub fn ns_init_pid(run_pid: u32) -> Option<u32> {
    let children = std::fs::read_to_string(format!("/proc/{run_pid}/task/{run_pid}/children")).ok();
    if let Some(pid) = children.as_deref().and_then(|c| c.split_whitespace().next()).and_then(|p| p.parse().ok()) {
        return Some(pid);
    }
    // Kernels without CONFIG_PROC_CHILDREN: look for the process whose parent is the run.
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        (parent_pid(pid) == Some(run_pid)).then_some(pid)
    })
}

/// The container's init once it has finished setting the container up (its volumes bound, its
/// user taken): that is when it has started the container command as its child. Before, an
/// exec would enter a mount namespace without the pod's volumes.
pub fn set_up_init_pid(run_pid: u32) -> Option<u32> {
    let init = ns_init_pid(run_pid)?;
    ns_init_pid(init).map(|_| init)
}

fn parent_pid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.split(' ').nth(1)?.parse().ok()
}

/// Asks a run to stop: SIGTERM to its init (which passes it to the command).
pub fn terminate(run_pid: u32) {
    match ns_init_pid(run_pid) {
        Some(init) => {
            let _ = kill(Pid::from_raw(init as i32), Signal::SIGTERM);
        }
        None => kill_run(run_pid),
    }
}

/// Kills a run at once: its process group, and its namespace's init (which takes every process
/// of the namespace with it).
pub fn kill_run(run_pid: u32) {
    if let Some(init) = ns_init_pid(run_pid) {
        let _ = kill(Pid::from_raw(init as i32), Signal::SIGKILL);
    }
    let _ = killpg(Pid::from_raw(run_pid as i32), Signal::SIGKILL);
}

/// Start time of a live process (field 22 of /proc/PID/stat), to tell a recycled pid apart.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.split(' ').nth(19)?.parse().ok()
}

/// The process exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
        .unwrap_or(false)
}

/// Records a run in `path` ("pid starttime").
pub fn write_pid_file(path: &Path, pid: u32) {
    let st = start_time(pid).unwrap_or(0);
    let _ = std::fs::write(path, format!("{pid} {st}\n"));
}

/// Kills every run recorded in `STATE/pods/*/*.pid` by an earlier agent that is still alive.
/// Returns how many it killed.
pub fn kill_leftovers(pods_dir: &Path) -> usize {
    let mut killed = 0;
    for pod in std::fs::read_dir(pods_dir).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(pod.path()).into_iter().flatten().flatten() {
            let p = f.path();
            if p.extension().is_none_or(|e| e != "pid") {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&p) else { continue };
            let mut it = text.split_whitespace();
            let (Some(pid), Some(st)) = (it.next().and_then(|x| x.parse::<u32>().ok()), it.next()) else {
                continue;
            };
            if start_time(pid).map(|s| s.to_string()).as_deref() == Some(st) {
                kill_run(pid);
                killed += 1;
            }
        }
    }
    killed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_fields() {
        let me = std::process::id();
        assert!(start_time(me).is_some());
        assert_eq!(parent_pid(me), Some(std::os::unix::process::parent_id()));
    }

    #[test]
    fn leftovers_ignore_dead_and_recycled() {
        let dir = tempfile::tempdir().unwrap();
        let pod = dir.path().join("uid1");
        std::fs::create_dir_all(&pod).unwrap();
        // Our own pid with a wrong start time: a recycled pid, not killed.
        std::fs::write(pod.join("c.pid"), format!("{} 1\n", std::process::id())).unwrap();
        std::fs::write(pod.join("d.pid"), "999999999 5\n").unwrap();
        std::fs::write(pod.join("e.pid"), "garbage").unwrap();
        assert_eq!(kill_leftovers(dir.path()), 0);
    }
}
