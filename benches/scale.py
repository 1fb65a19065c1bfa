#!/usr/bin/env python3
"""Repository-scale benchmark (issue 12): push and pull memory and start-up vs repository size.

Builds (once, cached) synthetic repositories of about 0.2 M, 1 M, 5 M and 20 M stored chunks,
each from the one below it: the smallest is `kando repository init` + the benchmark dump's
generation 0 under `db/dump.sql` + synthetic streams; every larger one is a hard-link copy
(`cp -al`; objects are create-only, so the copies never write into each other's files) of the
one below plus more synthetic streams. All of them thus share one key, one chunker seed and the
same `db/dump.sql` snapshot. Synthetic streams come from `synth_stream` (benches/src/bin): a
random 4 KiB block repeated with a unique 8-byte value per repetition, so every chunk is new
and compresses ~90:1. Where FastCDC cuts it depends on the block and on the repository's
chunker seed, so the first build pushes 8 MiB per candidate seed into a throwaway copy of the
empty repository and keeps two seeds whose average chunk is 7.5–12.5 KiB: one for the build,
one never pushed to the cached repositories (the "fresh" stream of the measurements). Once
built, each cached repository gets one `kando repository gc --min-age 0s` (recorded in its
build.json): locator tables then cover its snapshots, as automatic maintenance leaves them.

Then, per size and round, on a hard-link copy of the cached repository (deleted afterwards),
with the index and snapshot objects read once beforehand (warm page cache), under GNU time:
  (c) pull of `db/dump.sql` (generation 0, covered by the locator tables) to /dev/null,
  (a) push of the dump's generation 1 to `db/dump.sql` (an incremental of generation 0),
  (b) push of a fresh 1 GB synthetic stream under a new path (all chunks new),
  (c') pull of the latest snapshot of `db/dump.sql` (generation 1, which no gc has seen: its
      new leaves are located by the records its push wrote; before pushes wrote them, by
      scanning the index) to /dev/null,
  (d) start-up: 64 MiB of another fresh stream are pushed through a pipe whose buffer is one
      page; the page is filled before kando starts, and the time from starting kando until a
      write of one more byte returns (i.e. until kando has read the first page) is measured,
      three times.
Prints a table, a JSON line (`SCALE_JSON {...}`) and draws --plot (matplotlib if importable,
else a hand-written SVG). `scale.py --replot LOG --plot FILE` redraws from an earlier output.
Called by benches/scale.sh.
"""
import argparse, fcntl, json, math, os, platform, shutil, statistics, subprocess, sys, time

PW = "bench-password"
TIME_OUT = f"/tmp/kanrepo-scale-time-{os.getpid()}"
TARGET_RSS_MB = 128.0
TARGET_STARTUP_S = 1.0
BLOCK = 4096
PUSH_BYTES = 40_000_000_000 // BLOCK * BLOCK  # per build push
CALIB_BYTES = 8 << 20
FRESH_BYTES = 1_000_000_000
STARTUP_BYTES = 64 << 20
STARTUP_RUNS = 3
DISK_PER_CHUNK = 200  # bytes on disk per stored chunk, with margin (measured: ~160)
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)


def label(m):
    return f"{m:g}M"


def timed(cmd, env, stdin=None, stdout=None, stderr=None):
    """Run cmd under GNU time; stdin: None, a path or a file object. Returns wall s, rss bytes, cpu s."""
    full = ["/usr/bin/time", "-f", "%e %M %U %S", "-o", TIME_OUT] + cmd
    si = open(stdin, "rb") if isinstance(stdin, str) else (stdin or open(os.devnull, "rb"))
    with open(stdout or os.devnull, "wb") as so, open(stderr or os.devnull, "wb") as se:
        r = subprocess.run(full, stdin=si, stdout=so, stderr=se, env=env)
    if isinstance(stdin, str) or stdin is None:
        si.close()
    if r.returncode != 0:
        tail = open(stderr, errors="replace").read()[-3000:] if stderr else ""
        sys.exit(f"command failed ({r.returncode}): {' '.join(cmd)}\n{tail}")
    return parse_time()


def parse_time():
    with open(TIME_OUT) as f:
        e, m, u, s = f.read().strip().splitlines()[-1].split()
    return dict(wall=float(e), rss=int(m) * 1024, cpu=float(u) + float(s))


def du(path):
    return int(subprocess.run(["du", "-sb", path], capture_output=True, text=True, check=True).stdout.split()[0])


class Bench:
    def __init__(self, a):
        self.kando, self.synth = a.kando, a.synth
        self.env = dict(os.environ, KANDO_REPOSITORY_PASSWORD=PW, KANDO_PROGRESS="none",
                        KANDO_NO_AUTO_MAINTENANCE="1")
        self.env.pop("KANDO_LOG", None)
        self.cache, self.work, self.corpus = a.cache, a.work, a.corpus
        self.logs = a.work + "-logs"

    # -- helpers --------------------------------------------------------------------------
    def k(self, *args):
        return [self.kando, *args]

    def snapshots(self, repo):
        out = subprocess.run(self.k("repository", "snapshots", "--json", "--repo", repo), env=self.env,
                             capture_output=True, check=True).stdout
        return json.loads(out)

    def data_chunks(self, repo):
        return sum(s["stats"]["new_chunks"] for s in self.snapshots(repo))

    def push_file(self, repo, path, src, log):
        r = timed(self.k("location", "push", "--repo", repo, "--path", path, "--progress", "none",
                         "--no-auto-maintenance", src), self.env, stdout=log + ".out", stderr=log + ".err")
        r["added"] = phase_value(log + ".out")["physicalSize"]
        return r

    def push_synth(self, repo, path, nbytes, seed, first, log):
        gen = subprocess.Popen([self.synth, str(nbytes), str(seed), str(first)], stdout=subprocess.PIPE)
        r = timed(self.k("location", "push", "--repo", repo, "--path", path, "--progress", "none",
                         "--no-auto-maintenance", "-"), self.env, stdin=gen.stdout, stdout=log + ".out",
                  stderr=log + ".err")
        gen.stdout.close()
        if gen.wait() != 0:
            sys.exit(f"synth_stream failed for {path}")
        r["added"] = phase_value(log + ".out")["physicalSize"]
        return r

    def startup(self, repo, path, seed, first, log):
        """Seconds from starting a push until it has read the first page of its input (see module docs)."""
        gen = subprocess.Popen([self.synth, str(STARTUP_BYTES), str(seed), str(first)], stdout=subprocess.PIPE)
        rfd, wfd = os.pipe()
        fcntl.fcntl(wfd, F_SETPIPE_SZ, 4096)
        cap = fcntl.fcntl(wfd, F_GETPIPE_SZ)
        head = gen.stdout.read(cap)
        os.write(wfd, head)  # the pipe is now full: the next write blocks until kando reads
        nxt = gen.stdout.read(1)
        cmd = ["/usr/bin/time", "-f", "%e %M %U %S", "-o", TIME_OUT] + self.k(
            "location", "push", "--repo", repo, "--path", path, "--progress", "none", "--no-auto-maintenance", "-")
        with open(log + ".out", "wb") as so, open(log + ".err", "wb") as se:
            t0 = time.monotonic()
            p = subprocess.Popen(cmd, stdin=rfd, stdout=so, stderr=se, env=self.env)
            os.close(rfd)
            os.write(wfd, nxt)
            t1 = time.monotonic()
            while True:
                b = gen.stdout.read(1 << 20)
                if not b:
                    break
                v = memoryview(b)
                while v:
                    v = v[os.write(wfd, v):]
            os.close(wfd)
            rc = p.wait()
        gen.wait()
        if rc != 0:
            sys.exit(f"startup push failed ({rc}): {open(log + '.err', errors='replace').read()[-2000:]}")
        r = parse_time()
        r["startup"] = t1 - t0
        r["pipe_bytes"] = cap
        return r

    # -- building -------------------------------------------------------------------------
    def level_dir(self, m):
        return os.path.join(self.cache, label(m))

    def calibrate(self, empty_repo, d):
        """Two synth_stream seeds whose average chunk is 7.5-12.5 KiB in this repository."""
        cal = os.path.join(d, "calibrate")
        shutil.rmtree(cal, ignore_errors=True)
        subprocess.run(["cp", "-a", empty_repo, cal], check=True)
        found = []
        for seed in range(1, 200):
            self.push_synth(cal, f"calib/{seed}", CALIB_BYTES, seed, 0, os.path.join(d, "logs", "calib"))
            chunks = self.snapshots(cal)[-1]["stats"]["chunks"]
            avg = CALIB_BYTES / chunks
            ok = 7.5 * 1024 <= avg <= 12.5 * 1024
            print(f"   calibration: seed {seed}: {chunks} chunks in 8 MiB, average {avg / 1024:.1f} KiB"
                  f"{' (kept)' if ok else ''}", flush=True)
            if ok:
                found.append((seed, avg))
            if len(found) == 2:
                break
        shutil.rmtree(cal)
        if len(found) < 2:
            sys.exit("no synth_stream seed gives 7.5-12.5 KiB chunks in this repository")
        return dict(build_seed=found[0][0], build_avg_chunk=found[0][1], fresh_seed=found[1][0],
                    fresh_avg_chunk=found[1][1])

    def build(self, chain, i):
        """Build level chain[i] (and the ones below it) unless cached; returns its build.json."""
        m = chain[i]
        d = self.level_dir(m)
        meta_path = os.path.join(d, "build.json")
        if os.path.isfile(meta_path):
            return json.load(open(meta_path))
        prev = self.build(chain, i - 1) if i > 0 else None
        tmp = d + ".building"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(os.path.join(tmp, "logs"))
        repo = os.path.join(tmp, "repo")
        target = int(round(m * 1e6))
        print(f"== {time.strftime('%F %T')}: building the {label(m)} repository ({target} stored chunks)", flush=True)
        t0 = time.time()
        pushes = []
        if prev is None:
            subprocess.run(self.k("repository", "init", "--repo", repo), env=self.env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            meta = dict(self.calibrate(repo, tmp), next_rep=0)
            r = self.push_file(repo, "db/dump.sql", os.path.join(self.corpus, "dump0.sql"),
                               os.path.join(tmp, "logs", "dump0"))
            print(f"   push dump0.sql to db/dump.sql: {r['wall']:.1f} s, {r['rss'] / 1e6:.0f} MB", flush=True)
            pushes.append(dict(path="db/dump.sql", bytes=os.path.getsize(os.path.join(self.corpus, "dump0.sql")),
                               wall_s=r["wall"], peak_rss_bytes=r["rss"]))
        else:
            subprocess.run(["cp", "-al", os.path.join(self.level_dir(chain[i - 1]), "repo"), repo], check=True)
            meta = {k: prev[k] for k in ("build_seed", "build_avg_chunk", "fresh_seed", "fresh_avg_chunk",
                                          "next_rep")}
        current = self.data_chunks(repo)
        part = 0
        while current < target * 0.998:
            nbytes = min(PUSH_BYTES, math.ceil((target - current) * meta["build_avg_chunk"] / BLOCK) * BLOCK)
            need_disk = (target - current) * DISK_PER_CHUNK + (1 << 30)
            free = shutil.disk_usage(self.cache).free
            if free < need_disk:
                sys.exit(f"needs about {need_disk / 1e9:.1f} GB free in {self.cache}, has {free / 1e9:.1f} GB")
            path = f"synth/{label(m)}/part{part}"
            r = self.push_synth(repo, path, nbytes, meta["build_seed"], meta["next_rep"],
                                os.path.join(tmp, "logs", f"part{part}"))
            meta["next_rep"] += nbytes // BLOCK + 1
            current = self.data_chunks(repo)
            print(f"   push {nbytes / 1e9:.1f} GB to {path}: {r['wall']:.1f} s "
                  f"({nbytes / 1e6 / r['wall']:.0f} MB/s), peak RSS {r['rss'] / 1e6:.0f} MB; "
                  f"{current} chunks now", flush=True)
            pushes.append(dict(path=path, bytes=nbytes, wall_s=r["wall"], peak_rss_bytes=r["rss"]))
            part += 1
        build_s = time.time() - t0
        st = timed(self.k("repository", "stats", "--json", "--repo", repo), self.env,
                   stdout=os.path.join(tmp, "logs", "stats.json"), stderr=os.path.join(tmp, "logs", "stats.err"))
        stats = json.load(open(os.path.join(tmp, "logs", "stats.json")))
        size = du(repo)
        meta.update(size_millions=m, target_chunks=target, data_chunks=current, stored_chunks=stats["chunks"],
                    blobs=stats["blobs"], logical_bytes=stats["objects"]["logical_bytes"],
                    index_bytes=stats["objects"]["index_bytes"], index_objects=stats["objects"]["index_objects"],
                    packs=stats["objects"]["packs"], disk_bytes=size, build_s=build_s,
                    stats_wall_s=st["wall"], stats_peak_rss_bytes=st["rss"], pushes=pushes,
                    built_from=label(chain[i - 1]) if i > 0 else None, built=time.strftime("%F %T"))
        with open(os.path.join(tmp, "build.json"), "w") as f:
            json.dump(meta, f, indent=1)
        os.rename(tmp, d)
        print(f"   {label(m)}: {stats['chunks']} stored chunks and tree nodes ({current} data chunks), "
              f"{meta['logical_bytes'] / 1e9:.1f} GB of streams in {size / 1e9:.2f} GB on disk "
              f"(index {meta['index_bytes'] / 1e6:.0f} MB in {meta['index_objects']} objects); built in {build_s:.0f} s; "
              f"`repository stats` took {st['wall']:.1f} s, {st['rss'] / 1e6:.0f} MB", flush=True)
        return meta

    def ensure_locators(self, m, meta):
        """Run gc once on the cached repository, so that locator tables cover its snapshots
        (as automatic maintenance does after pushes); recorded in build.json."""
        if meta.get("locator_gc"):
            return meta
        d = self.level_dir(m)
        print(f"== {time.strftime('%F %T')}: gc of the cached {label(m)} repository (writes its locator tables)",
              flush=True)
        r = timed(self.k("repository", "gc", "--min-age", "0s", "--json", "--repo", os.path.join(d, "repo")),
                  self.env, stdout=os.path.join(d, "gc.json"), stderr=os.path.join(d, "gc.err"))
        meta["locator_gc"] = dict(wall_s=r["wall"], peak_rss_bytes=r["rss"], report=json.load(
            open(os.path.join(d, "gc.json"))))
        with open(os.path.join(d, "build.json"), "w") as f:
            json.dump(meta, f, indent=1)
        print(f"   {r['wall']:.1f} s, peak RSS {r['rss'] / 1e6:.0f} MB", flush=True)
        return meta

    # -- measuring ------------------------------------------------------------------------
    def measure(self, m, meta, rnd):
        src = os.path.join(self.level_dir(m), "repo")
        shutil.rmtree(self.work, ignore_errors=True)
        os.makedirs(self.work)
        repo = os.path.join(self.work, "repo")
        subprocess.run(["cp", "-al", src, repo], check=True)
        for sub in ("index", "snapshots"):  # warm page cache: every figure is with the index in memory
            for dp, _, fs in os.walk(os.path.join(repo, sub)):
                for f in fs:
                    with open(os.path.join(dp, f), "rb") as fh:
                        while fh.read(1 << 20):
                            pass
        logs = os.path.join(self.logs, f"{label(m)}-round{rnd}")
        os.makedirs(logs, exist_ok=True)
        res = {}
        # The dump as gc left it (covered by the locator tables), then the same path after an
        # incremental push that no gc has seen (covered by its push's own records).
        res["covered"] = timed(self.k("location", "pull", "--repo", repo, "--path", "db/dump.sql", "--progress",
                                      "none", "/dev/null"), self.env, stderr=f"{logs}/covered.err")
        res["incr"] = self.push_file(repo, "db/dump.sql", os.path.join(self.corpus, "dump1.sql"), f"{logs}/incr")
        res["fresh"] = self.push_synth(repo, "fresh/stream", FRESH_BYTES, meta["fresh_seed"], 0, f"{logs}/fresh")
        res["pull"] = timed(self.k("location", "pull", "--repo", repo, "--path", "db/dump.sql", "--progress", "none",
                                   "/dev/null"), self.env, stderr=f"{logs}/pull.err")
        res["startup"] = [self.startup(repo, f"startup/{j}", meta["fresh_seed"], (j + 1) << 30, f"{logs}/startup{j}")
                          for j in range(STARTUP_RUNS)]
        shutil.rmtree(self.work)
        return res


def phase_value(path):
    line = [l for l in open(path) if l.startswith("###Phase-output###:")][-1]
    return json.loads(json.loads(line.split(":", 1)[1])["value"])


def summarize(levels, rounds):
    """Per level: medians of wall times, maxima of peak RSS, median start-up."""
    out = []
    for m, meta in levels:
        rs = rounds[label(m)]
        row = dict(size=label(m), size_millions=m, stored_chunks=meta["stored_chunks"], data_chunks=meta["data_chunks"],
                   disk_bytes=meta["disk_bytes"], index_bytes=meta["index_bytes"],
                   logical_bytes=meta["logical_bytes"], stats_wall_s=meta["stats_wall_s"],
                   stats_peak_rss_bytes=meta["stats_peak_rss_bytes"])
        for k in ("incr", "fresh", "covered", "pull"):
            row[k] = dict(wall_s=statistics.median(r[k]["wall"] for r in rs),
                          cpu_s=statistics.median(r[k]["cpu"] for r in rs),
                          peak_rss_bytes=max(r[k]["rss"] for r in rs))
            if "added" in rs[0][k]:
                row[k]["added_bytes"] = statistics.median(r[k]["added"] for r in rs)
        su = [s for r in rs for s in r["startup"]]
        row["startup"] = dict(first_read_s=statistics.median(s["startup"] for s in su),
                              first_read_all_s=[round(s["startup"], 3) for s in su],
                              push_wall_s=statistics.median(s["wall"] for s in su),
                              peak_rss_bytes=max(s["rss"] for s in su))
        out.append(row)
    return out


def print_table(rows):
    mb = lambda b: f"{b / 1e6:.0f}"
    hdr = ("| repository | stored chunks | on disk GB | (a) incr push s | (a) RSS MB | (a) added MB "
           "| (b) fresh 1 GB push s | (b) RSS MB | (c) pull s | (c) RSS MB | (c') pull s | (c') RSS MB "
           "| (d) start-up s |")
    print(hdr)
    print("|---" * (hdr.count("|") - 1) + "|")
    for r in rows:
        print(f"| {r['size']} | {r['stored_chunks']:,} | {r['disk_bytes'] / 1e9:.2f} | {r['incr']['wall_s']:.2f} "
              f"| {mb(r['incr']['peak_rss_bytes'])} | {r['incr']['added_bytes'] / 1e6:.1f} | {r['fresh']['wall_s']:.2f} "
              f"| {mb(r['fresh']['peak_rss_bytes'])} | {r['covered']['wall_s']:.2f} | {mb(r['covered']['peak_rss_bytes'])} "
              f"| {r['pull']['wall_s']:.2f} | {mb(r['pull']['peak_rss_bytes'])} "
              f"| {r['startup']['first_read_s']:.2f} |")
    hi = rows[-1]
    lo = next((r for r in rows[:-1] if r["size_millions"] == 1), rows[0])  # 20M / 1M; --quick: 1M / 0.2M
    if hi is not lo:
        q = lambda k, f: hi[k][f] / lo[k][f]
        print(f"| {hi['size']} / {lo['size']} | {hi['stored_chunks'] / lo['stored_chunks']:.1f}× | "
              f"{hi['disk_bytes'] / lo['disk_bytes']:.1f}× | {q('incr', 'wall_s'):.1f}× | **{q('incr', 'peak_rss_bytes'):.2f}×** | "
              f"| {q('fresh', 'wall_s'):.1f}× | **{q('fresh', 'peak_rss_bytes'):.2f}×** | {q('covered', 'wall_s'):.1f}× | "
              f"**{q('covered', 'peak_rss_bytes'):.2f}×** | {q('pull', 'wall_s'):.1f}× | "
              f"**{q('pull', 'peak_rss_bytes'):.2f}×** | {hi['startup']['first_read_s'] / lo['startup']['first_read_s']:.1f}× |")
    print("\ntargets of issue 12 (largest repository): "
          + "; ".join(f"{n} peak RSS {hi[k]['peak_rss_bytes'] / 1e6:.0f} MB {'PASS' if hi[k]['peak_rss_bytes'] <= TARGET_RSS_MB * 1e6 else 'FAIL'} (≤ {TARGET_RSS_MB:.0f} MB)"
                    for n, k in (("(a)", "incr"), ("(b)", "fresh"), ("(c)", "covered"), ("(c')", "pull")))
          + (f"; RSS within 10% of {lo['size']}: " + ", ".join(
              f"{k} {'PASS' if hi[k]['peak_rss_bytes'] <= 1.1 * lo[k]['peak_rss_bytes'] else 'FAIL'}"
              for k in ("incr", "fresh", "covered", "pull")) if hi is not lo else "")
          + f"; start-up {hi['startup']['first_read_s']:.2f} s {'PASS' if hi['startup']['first_read_s'] <= TARGET_STARTUP_S else 'FAIL'} (≤ {TARGET_STARTUP_S:.0f} s)")


# -- plot ---------------------------------------------------------------------------------
SERIES = (("incr", "(a) incremental push of the dump", "#2a7ab0"),
          ("fresh", "(b) push of a fresh 1 GB stream", "#e08a1e"),
          ("covered", "(c) pull of the dump, covered by gc's locator tables", "#3a9a4a"),
          ("pull", "(c') pull of the dump just pushed (its push's records)", "#8fbf6a"))


def plot(path, out):
    rows = out["rows"]
    title = f"kando {out['commit']}: push and pull vs repository size (warm cache, local disk)"
    try:
        return plot_mpl(path, rows, title)
    except ImportError:
        return plot_svg(path, rows, title)


def plot_mpl(path, rows, title):
    import matplotlib
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"  # text as text: a small SVG that diffs well
    matplotlib.rcParams["svg.hashsalt"] = "kanrepo-bench"  # the same ids on every run
    import matplotlib.pyplot as plt
    xs = [r["stored_chunks"] / 1e6 for r in rows]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4.2))
    for k, name, c in SERIES:
        a1.plot(xs, [r[k]["peak_rss_bytes"] / 1e6 for r in rows], "o-", color=c, label=name)
        a2.plot(xs, [r[k]["wall_s"] for r in rows], "o-", color=c, label=name)
    a2.plot(xs, [r["startup"]["first_read_s"] for r in rows], "s--", color="#7b4fa0",
            label="(d) start-up: until the first byte is read")
    a1.axhline(TARGET_RSS_MB, color="#c0392b", ls="--", lw=1.2, label=f"target ≤ {TARGET_RSS_MB:.0f} MB")
    a2.axhline(TARGET_STARTUP_S, color="#c0392b", ls="--", lw=1.2, label="start-up target ≤ 1 s")
    for ax, yl in ((a1, "peak RSS (MB)"), (a2, "wall time (s)")):
        ax.set_xscale("log")
        ax.set_xticks(xs)
        ax.set_xticklabels([f"{x:.2g} M" for x in xs])
        ax.minorticks_off()
        ax.set_xlabel("stored chunks in the repository")
        ax.set_ylabel(yl)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    a1.legend(fontsize=7.5, loc="upper left")
    a2.legend(fontsize=7.5, loc="upper left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None})
    return "matplotlib"


def plot_svg(path, rows, title):
    W, H, PW_, T, B = 900, 400, 360, 50, 320
    xs = [r["stored_chunks"] / 1e6 for r in rows]
    lx0, lx1 = math.log10(min(xs)), math.log10(max(xs))
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="13">{title}</text>']
    panels = [("peak RSS (MB)", [(n, c, [r[k]["peak_rss_bytes"] / 1e6 for r in rows]) for k, n, c in SERIES], TARGET_RSS_MB),
              ("wall time (s)", [(n, c, [r[k]["wall_s"] for r in rows]) for k, n, c in SERIES]
               + [("(d) start-up", "#7b4fa0", [r["startup"]["first_read_s"] for r in rows])], TARGET_STARTUP_S)]
    for p, (yl, series, tgt) in enumerate(panels):
        L = 70 + p * (PW_ + 90)
        hi = max([tgt] + [v for _, _, vs in series for v in vs]) * 1.05
        mag = 10 ** math.floor(math.log10(hi / 5))
        step = next(mag * f for f in (1, 2, 5, 10) if hi / (mag * f) <= 6)
        top = step * math.ceil(hi / step)
        X = lambda x: L + 20 + ((PW_ - 40) * (math.log10(x) - lx0) / (lx1 - lx0) if lx1 > lx0 else PW_ / 2)
        Y = lambda v: B - (B - T) * v / top
        o.append(f'<rect x="{L}" y="{T}" width="{PW_}" height="{B - T}" fill="none" stroke="#999"/>')
        for i in range(round(top / step) + 1):
            v = step * i
            o.append(f'<text x="{L - 6}" y="{Y(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
            o.append(f'<line x1="{L}" x2="{L + PW_}" y1="{Y(v):.1f}" y2="{Y(v):.1f}" stroke="#eee"/>')
        for x in xs:
            o.append(f'<text x="{X(x):.1f}" y="{B + 16}" text-anchor="middle">{x:.2g} M</text>')
        o.append(f'<text x="{L + PW_ / 2}" y="{B + 34}" text-anchor="middle">stored chunks in the repository</text>')
        o.append(f'<text transform="translate({L - 48},{(B + T) / 2}) rotate(-90)" text-anchor="middle">{yl}</text>')
        o.append(f'<line x1="{L}" x2="{L + PW_}" y1="{Y(tgt):.1f}" y2="{Y(tgt):.1f}" stroke="#c0392b" stroke-dasharray="5,3"/>')
        for j, (n, c, vs) in enumerate(series):
            pts = " ".join(f"{X(x):.1f},{Y(v):.1f}" for x, v in zip(xs, vs))
            o.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="2"/>')
            o += [f'<circle cx="{X(x):.1f}" cy="{Y(v):.1f}" r="3" fill="{c}"/>' for x, v in zip(xs, vs)]
            o.append(f'<rect x="{L + 8}" y="{T + 8 + 14 * j}" width="10" height="3" fill="{c}"/>'
                     f'<text x="{L + 22}" y="{T + 13 + 14 * j}" font-size="9">{n}</text>')
        o.append(f'<text x="{L + PW_ - 4}" y="{Y(tgt) - 4:.1f}" text-anchor="end" fill="#c0392b" font-size="9">target</text>')
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o) + "\n")
    return "hand-written SVG"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kando")
    ap.add_argument("--synth", help="the synth_stream binary")
    ap.add_argument("--corpus", help="directory holding dump0.sql and dump1.sql")
    ap.add_argument("--cache", help="where the repositories are built (one directory per size)")
    ap.add_argument("--work", help="scratch directory for the hard-link copies (deleted)")
    ap.add_argument("--sizes", default="0.2,1,5,20", help="millions of stored chunks, ascending")
    ap.add_argument("--repeat", type=int, default=3, help="rounds; wall times are medians, peak RSS maxima")
    ap.add_argument("--rebuild", action="store_true", help="delete the cached repositories first")
    ap.add_argument("--commit", default="?")
    ap.add_argument("--plot", help="write the plot here (SVG)")
    ap.add_argument("--replot", metavar="LOG", help="only redraw --plot from the SCALE_JSON line in LOG")
    a = ap.parse_args()
    if a.replot:
        line = [l for l in open(a.replot) if l.startswith("SCALE_JSON ")][-1]
        print(f"plot ({plot(a.plot, json.loads(line.split(' ', 1)[1]))}): {a.plot}")
        return
    if not all((a.kando, a.synth, a.corpus, a.cache, a.work)):
        ap.error("--kando, --synth, --corpus, --cache and --work are required")
    for g in (0, 1):
        if not os.path.isfile(os.path.join(a.corpus, f"dump{g}.sql")):
            sys.exit(f"missing {a.corpus}/dump{g}.sql")
    sizes = [float(s) for s in a.sizes.split(",")]
    if sizes != sorted(sizes):
        sys.exit("--sizes must be ascending")
    # The chain of cached sizes: every size is built from the one below it, starting at 0.2 M.
    chain = sorted(set([0.2] + sizes))
    if a.rebuild:
        shutil.rmtree(a.cache, ignore_errors=True)
    os.makedirs(a.cache, exist_ok=True)
    b = Bench(a)
    shutil.rmtree(b.logs, ignore_errors=True)

    kv = subprocess.run([a.kando, "--version"], capture_output=True, text=True).stdout.strip()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    machine = f"{os.cpu_count()} cores, {mem:.0f} GiB RAM, {platform.system()} {platform.release()}"
    print(f"{machine}; {kv} ({a.commit}); sizes {', '.join(format(m, 'g') for m in sizes)} M stored chunks; "
          f"{a.repeat} round(s)", flush=True)

    t0 = time.time()
    metas = {}
    for m in sizes:
        metas[m] = b.ensure_locators(m, b.build(chain, chain.index(m)))
    build_s = time.time() - t0
    levels = [(m, metas[m]) for m in sizes]
    for m, meta in levels:
        print(f"   {label(m)}: {meta['stored_chunks']:,} stored chunks and tree nodes, {meta['logical_bytes'] / 1e9:.1f} GB "
              f"of streams, {meta['disk_bytes'] / 1e9:.2f} GB on disk, index {meta['index_bytes'] / 1e6:.0f} MB "
              f"({meta['built']}, {meta['build_s']:.0f} s to build; seeds {meta['build_seed']} / {meta['fresh_seed']})")
    if build_s > 1:
        print(f"== building took {build_s:.0f} s", flush=True)
    df = shutil.disk_usage(a.cache)
    print(f"   cache {a.cache}: {du(a.cache) / 1e9:.2f} GB (hard links counted once); {df.free / 1e9:.1f} GB free",
          flush=True)

    t1 = time.time()
    rounds = {label(m): [] for m in sizes}
    loads = []
    for rnd in range(a.repeat):
        for m, meta in levels:
            la = os.getloadavg()
            loads.append(la[0])
            print(f"== {time.strftime('%T')}: {label(m)}, round {rnd + 1}/{a.repeat} (load average {la[0]:.2f} "
                  f"{la[1]:.2f})", flush=True)
            r = b.measure(m, meta, rnd)
            rounds[label(m)].append(r)
            print(f"   (a) incremental push {r['incr']['wall']:.2f} s / {r['incr']['rss'] / 1e6:.0f} MB "
                  f"(+{r['incr']['added'] / 1e6:.1f} MB); (b) fresh 1 GB push {r['fresh']['wall']:.2f} s / "
                  f"{r['fresh']['rss'] / 1e6:.0f} MB; (c) pull {r['covered']['wall']:.2f} s / {r['covered']['rss'] / 1e6:.0f} MB, "
                  f"(c') after the push {r['pull']['wall']:.2f} s / {r['pull']['rss'] / 1e6:.0f} MB; "
                  f"(d) start-up " + ", ".join(f"{s['startup']:.2f}" for s in r["startup"]) + " s", flush=True)
    measure_s = time.time() - t1
    rows = summarize(levels, rounds)
    print(f"\nmedians of {a.repeat} round(s) (peak RSS: maximum); load average during the rounds "
          f"{min(loads):.1f}-{max(loads):.1f}; measuring took {measure_s:.0f} s\n")
    print_table(rows)
    print("\n`repository stats` on each cached repository (once, when built): "
          + ", ".join(f"{r['size']} {r['stats_wall_s']:.1f} s / {r['stats_peak_rss_bytes'] / 1e6:.0f} MB" for r in rows))
    out = dict(commit=a.commit, kando_version=kv, machine=machine, rounds=a.repeat, build_s=build_s,
               measure_s=measure_s, load_average=[min(loads), max(loads)], dump_bytes=[
                   os.path.getsize(os.path.join(a.corpus, f"dump{g}.sql")) for g in (0, 1)],
               fresh_bytes=FRESH_BYTES, startup_bytes=STARTUP_BYTES, rows=rows,
               raw=rounds)
    print("SCALE_JSON " + json.dumps(out))
    if a.plot:
        print(f"plot ({plot(a.plot, out)}): {a.plot}")
    shutil.rmtree(b.logs, ignore_errors=True)
    if os.path.exists(TIME_OUT):
        os.remove(TIME_OUT)


if __name__ == "__main__":
    main()
