#!/usr/bin/env python3
"""Run kando, restic, borg and rustic side by side on two generations of a dump.

For each tool: full backup of dump0 (MB/s, repository bytes), incremental backup of dump1
(MB/s, bytes added), restore of the latest snapshot to /dev/null (MB/s), peak RSS of every
step, and a byte-exact check of both restores. Then kando's peak RSS on a ~1 GB and a ~5 GB
stream. Prints one table plus kando/peer ratios. Called by benches/run.sh.
"""
import argparse, hashlib, json, os, shutil, statistics, subprocess, sys, time

PW = "bench-password"


# CPU seconds (user + system) of the last command run by sh().
LAST_CPU = [0.0]


def sh(cmd, stdin=None, stdout=subprocess.DEVNULL, env=None):
    """Run cmd under GNU time; return (seconds, peak RSS bytes). Its CPU seconds go to LAST_CPU."""
    tf = "/tmp/kanrepo-bench-time"
    full = ["/usr/bin/time", "-f", "%e %M %U %S", "-o", tf] + cmd
    t0 = time.time()
    with open(stdin, "rb") if stdin else open(os.devnull, "rb") as si:
        r = subprocess.run(full, stdin=si, stdout=stdout, stderr=subprocess.PIPE, env=env)
    wall = time.time() - t0
    if r.returncode != 0:
        sys.exit(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr.decode()[-2000:]}")
    with open(tf) as f:
        line = f.read().strip().splitlines()[-1].split()
    LAST_CPU[0] = float(line[2]) + float(line[3])
    return wall, int(line[1]) * 1024


def du(path):
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(d, f))
    return total


def sha(path_or_cmd, env=None):
    h = hashlib.sha256()
    if isinstance(path_or_cmd, str):
        with open(path_or_cmd, "rb") as f:
            for b in iter(lambda: f.read(1 << 20), b""):
                h.update(b)
        return h.hexdigest()
    p = subprocess.Popen(path_or_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    for b in iter(lambda: p.stdout.read(1 << 20), b""):
        h.update(b)
    if p.wait() != 0:
        sys.exit(f"restore failed: {' '.join(path_or_cmd)}: {p.stderr.read().decode()[-2000:]}")
    return h.hexdigest()


class Tool:
    name = ""

    def __init__(self, work):
        self.repo = os.path.join(work, self.name, "repo")
        shutil.rmtree(os.path.join(work, self.name), ignore_errors=True)
        os.makedirs(os.path.dirname(self.repo))
        self.env = dict(os.environ)

    def size(self):
        return du(self.repo)


class Kando(Tool):
    name = "kando"

    def __init__(self, work, exe):
        super().__init__(work)
        self.exe = exe
        self.env["KANDO_REPOSITORY_PASSWORD"] = PW
        self.ids = []

    def init(self):
        pass  # the first push creates the repository

    def backup(self, dump, n):
        out = "/tmp/kanrepo-bench-out"
        with open(out, "wb") as o:
            r = sh([self.exe, "location", "push", "--repo", self.repo, "--path", "bench/db.sql", "--progress", "none", dump], stdout=o, env=self.env)
        with open(out) as f:
            line = f.read().strip()
        self.ids.append(json.loads(json.loads(line.split(":", 1)[1])["value"])["id"])
        return r

    def restore_null(self):
        return sh([self.exe, "location", "pull", "--repo", self.repo, "--path", "bench/db.sql", "--progress", "none", "/dev/null"], env=self.env)

    def restore_cmd(self, n):
        return [self.exe, "location", "pull", "--repo", self.repo, "--path", "bench/db.sql", "--snapshot", self.ids[n], "--progress", "none", "-"]


class KandoS3(Kando):
    """kando against MinIO on loopback (scripts/servers.sh), through the S3 backend."""
    name = "kando-s3"

    def __init__(self, work, exe):
        super().__init__(work, exe)
        e = os.environ
        self.url = f"s3://{e['KANREPO_TEST_S3_BUCKET']}/bench-{time.time_ns()}"
        self.env.update(AWS_ENDPOINT=e["KANREPO_TEST_S3_ENDPOINT"], AWS_ALLOW_HTTP="true",
                        AWS_ACCESS_KEY_ID=e["KANREPO_TEST_S3_ACCESS_KEY"], AWS_SECRET_ACCESS_KEY=e["KANREPO_TEST_S3_SECRET_KEY"],
                        AWS_REGION=e["KANREPO_TEST_S3_REGION"])
        self.repo = self.url

    def size(self):
        out = subprocess.run([self.exe, "repository", "stats", "--json", "--repo", self.url], env=self.env,
                             capture_output=True, check=True).stdout
        return json.loads(out)["objects"]["total_bytes"]


class Restic(Tool):
    name = "restic"

    def __init__(self, work):
        super().__init__(work)
        self.env.update(RESTIC_PASSWORD=PW, RESTIC_REPOSITORY=self.repo, RESTIC_CACHE_DIR=os.path.join(work, "restic", "cache"))

    def init(self):
        sh(["restic", "init", "--repository-version", "2"], env=self.env)

    def backup(self, dump, n):
        return sh(["restic", "backup", "--quiet", "--stdin", "--stdin-filename", "db.sql", "--tag", f"gen{n}"], stdin=dump, env=self.env)

    def restore_null(self):
        return sh(["restic", "dump", "--tag", "gen1", "latest", "/db.sql"], env=self.env)

    def restore_cmd(self, n):
        return ["restic", "dump", "--tag", f"gen{n}", "latest", "/db.sql"]


class Borg(Tool):
    name = "borg"

    def __init__(self, work):
        super().__init__(work)
        self.env.update(BORG_PASSPHRASE=PW, BORG_BASE_DIR=os.path.join(work, "borg", "base"))

    def init(self):
        sh(["borg", "init", "--encryption", "repokey-blake2", self.repo], env=self.env)

    def backup(self, dump, n):
        # borg's default compression is lz4; zstd,3 is its recommended setting for dumps.
        return sh(["borg", "create", "--compression", "zstd,3", "--stdin-name", "db.sql", f"{self.repo}::gen{n}", "-"], stdin=dump, env=self.env)

    def restore_null(self):
        return sh(["borg", "extract", "--stdout", f"{self.repo}::gen1"], env=self.env)

    def restore_cmd(self, n):
        return ["borg", "extract", "--stdout", f"{self.repo}::gen{n}"]


class Rustic(Tool):
    name = "rustic"

    def __init__(self, work):
        super().__init__(work)
        self.env.update(RUSTIC_PASSWORD=PW, RUSTIC_REPOSITORY=self.repo, RUSTIC_NO_PROGRESS="true",
                        RUSTIC_CACHE_DIR=os.path.join(work, "rustic", "cache"))
        self.ids = []

    def init(self):
        sh(["rustic", "init"], env=self.env)

    def backup(self, dump, n):
        # --force: without it rustic 0.11 silently reuses the parent's content for stdin.
        extra = ["--force"] if n else []
        r = sh(["rustic", "backup", "--stdin-filename", "db.sql", "--tag", f"gen{n}"] + extra + ["-"], stdin=dump, env=self.env)
        out = subprocess.run(["rustic", "snapshots", "--json"], env=self.env, capture_output=True, check=True).stdout
        snaps = json.loads(out)
        flat = []
        for group in snaps:  # rustic 0.11: [{"group_key": …, "snapshots": [...]}]
            if isinstance(group, dict) and "snapshots" in group:
                flat += group["snapshots"]
            elif isinstance(group, dict):
                flat.append(group)
        flat.sort(key=lambda s: s["time"])
        self.ids = [s["id"] for s in flat]
        return r

    def restore_null(self):
        return sh(["rustic", "dump", f"{self.ids[1]}:db.sql"], env=self.env)

    def restore_cmd(self, n):
        return ["rustic", "dump", f"{self.ids[n]}:db.sql"]


def run_tool(t, d0, d1):
    size0, size1 = os.path.getsize(d0), os.path.getsize(d1)
    t.init()
    base = t.size() if t.name != "kando-s3" else 0
    s0, m0 = t.backup(d0, 0)
    repo0 = t.size() - base
    s1, m1 = t.backup(d1, 1)
    added = t.size() - base - repo0
    sr, mr = t.restore_null()
    cpu_r = LAST_CPU[0]
    ok = sha(t.restore_cmd(0), t.env) == sha(d0) and sha(t.restore_cmd(1), t.env) == sha(d1)
    return dict(tool=t.name, full_mbs=size0 / 1e6 / s0, repo_mb=repo0 / 1e6, incr_mbs=size1 / 1e6 / s1,
                added_mb=added / 1e6, restore_mbs=size1 / 1e6 / sr, rss_mb=max(m0, m1, mr) / 1e6, exact=ok,
                restore_cpu_s=cpu_r)


def kando_rss(exe, work, d0, d1, gb):
    """Peak RSS of one push of a ~gb GB stream of distinct dump-like data (prefixed copies)."""
    repo = os.path.join(work, f"rss{gb}")
    shutil.rmtree(repo, ignore_errors=True)
    copies = max(1, round(gb * 1e9 / os.path.getsize(d0)))
    cmd = " ; ".join(f"sed 's/^/{i} /' {d0 if i % 2 == 0 else d1}" for i in range(copies))
    env = dict(os.environ, KANDO_REPOSITORY_PASSWORD=PW)
    s, m = sh([exe, "location", "push", "--repo", repo, "--path", "rss", "--progress", "none", "--from-command", cmd], env=env)
    out = subprocess.run([exe, "repository", "snapshots", "--json", "--repo", repo], env=env, capture_output=True, check=True).stdout
    size = json.loads(out)[0]["size"]
    shutil.rmtree(repo, ignore_errors=True)
    return size, m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kando", required=True)
    ap.add_argument("--dump0", required=True)
    ap.add_argument("--dump1", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--tools", default="kando,restic,borg,rustic")
    ap.add_argument("--skip-rss", action="store_true")
    ap.add_argument("--repeat", type=int, default=3, help="rounds per tool (fresh repositories); speeds are medians")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    print(f"dump0 {os.path.getsize(a.dump0)/1e6:.1f} MB, dump1 {os.path.getsize(a.dump1)/1e6:.1f} MB, {os.cpu_count()} cores")
    names = {"restic": ["restic", "version"], "borg": ["borg", "--version"], "rustic": ["rustic", "--version"], "kando": [a.kando, "--version"], "kando-s3": ["sh", "-c", "echo MinIO $(go version -m $KANREPO_TEST_MINIO_BIN | awk '$1==\"mod\"{print $3}') on loopback"]}
    for t in a.tools.split(","):
        print("  " + subprocess.run(names[t], capture_output=True, text=True).stdout.strip().splitlines()[0])
    rows = []
    make = {"kando": lambda: Kando(a.work, a.kando), "kando-s3": lambda: KandoS3(a.work, a.kando), "restic": lambda: Restic(a.work), "borg": lambda: Borg(a.work), "rustic": lambda: Rustic(a.work)}
    names = a.tools.split(",")
    rounds = {n: [] for n in names}
    # Interleave tools round by round so slow phases of a noisy machine hit every tool alike.
    for i in range(a.repeat):
        for name in names:
            print(f"== {name} (round {i + 1}/{a.repeat})", flush=True)
            rounds[name].append(run_tool(make[name](), a.dump0, a.dump1))
            shutil.rmtree(os.path.join(a.work, name), ignore_errors=True)
    for name in names:
        rs = rounds[name]
        med = lambda k: statistics.median(r[k] for r in rs)
        rows.append(dict(tool=name, full_mbs=med("full_mbs"), repo_mb=med("repo_mb"), incr_mbs=med("incr_mbs"),
                         added_mb=med("added_mb"), restore_mbs=med("restore_mbs"), rss_mb=max(r["rss_mb"] for r in rs),
                         exact=all(r["exact"] for r in rs), restore_cpu_s=med("restore_cpu_s")))
    print("\nper round (MB/s): full / incremental / restore")
    for name in names:
        print(f"  {name:8} " + "  ".join(f"{r['full_mbs']:.0f}/{r['incr_mbs']:.0f}/{r['restore_mbs']:.0f}" for r in rounds[name]))
    print(f"\nmedians of {a.repeat} rounds (peak RSS: maximum)")
    hdr = f"{'tool':8} {'full MB/s':>10} {'repo MB':>9} {'incr MB/s':>10} {'added MB':>9} {'restore MB/s':>13} {'peak RSS MB':>12}  byte-exact"
    print("\n" + hdr)
    for r in rows:
        print(f"{r['tool']:8} {r['full_mbs']:10.1f} {r['repo_mb']:9.1f} {r['incr_mbs']:10.1f} {r['added_mb']:9.1f} {r['restore_mbs']:13.1f} {r['rss_mb']:12.1f}  {'yes' if r['exact'] else 'NO'}")
    k = next((r for r in rows if r["tool"] == "kando"), None)
    k3 = next((r for r in rows if r["tool"] == "kando-s3"), None)
    if k and k3:
        print("\nkando on MinIO / kando on local disk (target >= 0.70)")
        print(f"  full backup {k3['full_mbs']/k['full_mbs']:.2f}  incremental {k3['incr_mbs']/k['incr_mbs']:.2f}  restore {k3['restore_mbs']/k['restore_mbs']:.2f}")
        # The server shares this machine's cores, so the wall-time ratio also pays for its CPU.
        # kando's own CPU for the same restore shows what the object store path costs kando.
        print(f"  kando CPU for the timed restore: local {k['restore_cpu_s']:.2f} s, MinIO {k3['restore_cpu_s']:.2f} s"
              f" (local / MinIO {k['restore_cpu_s']/max(k3['restore_cpu_s'], 1e-9):.2f})")
    if k:
        print("\nkando / peer   full speed  repo bytes  incr speed  bytes added  restore speed")
        for r in rows:
            if r is k or r is k3:
                continue
            print(f"  vs {r['tool']:8} {k['full_mbs']/r['full_mbs']:9.2f}x {k['repo_mb']/r['repo_mb']:10.2f}x {k['incr_mbs']/r['incr_mbs']:10.2f}x {k['added_mb']/max(r['added_mb'],1e-9):11.2f}x {k['restore_mbs']/r['restore_mbs']:13.2f}x")
    if not a.skip_rss:
        s1, m1 = kando_rss(a.kando, a.work, a.dump0, a.dump1, 1)
        s5, m5 = kando_rss(a.kando, a.work, a.dump0, a.dump1, 5)
        print(f"\nkando peak RSS: {s1/1e9:.2f} GB stream {m1/1e6:.1f} MB, {s5/1e9:.2f} GB stream {m5/1e6:.1f} MB ({100*(m5-m1)/m1:+.1f}%)")
    if not all(r["exact"] for r in rows):
        sys.exit("a restore was not byte-exact")


if __name__ == "__main__":
    main()
