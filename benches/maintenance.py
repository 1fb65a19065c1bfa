#!/usr/bin/env python3
"""Repository maintenance benchmark (issue 11): kando vs restic on N nightly dumps.

Both tools back up dump0 … dumpN-1 in order into a fresh local-disk repository (kando:
`location push`, restic: `backup --stdin`, as benches/run.py does). Then, on a fresh copy of
each repository per round (rounds interleaved, medians):

  kando:  repository forget --keep-last K; gc --min-age 0s; compact; gc --min-age 0s
          (together "forget + gc + compact"; the second gc deletes the packs compact repacked),
          then repository verify, then repository verify --read-data
  restic: forget --keep-last K --prune (one command), then check, then check --read-data

Every command runs under GNU time (wall seconds, peak RSS); repository bytes come from
`du -sb`; kando's gc, compact and verify run with --json and their reports are printed. The kept snapshots are then restored by both tools and compared byte for byte with
their dumps, and every kando maintenance command is run once more with `-v info` on another
copy, to show where its time goes. Prints a table with kando/restic ratios and the targets of
issue 11, a JSON line (`MAINTENANCE_JSON {...}`), and draws the normalised bars to --plot
(matplotlib if importable, else a hand-written SVG). Called by benches/maintenance.sh;
`maintenance.py --replot LOG --plot FILE` redraws the plot from the output of an earlier run.
"""
import argparse, hashlib, json, os, platform, re, shutil, statistics, subprocess, sys, time

PW = "bench-password"
TIME_OUT = "/tmp/kanrepo-maint-time"
TARGET_RSS_MB = 128.0
GC_NOTE = ("  kando gc runs with --min-age 0s (one writer, so nothing can still need a marked pack), twice: after\n"
           "  forget (deletes the packs no kept snapshot needs) and after compact (deletes the packs compact repacked);\n"
           "  pushes run with --no-auto-maintenance. restic: forget --keep-last K --prune (its defaults, max-unused 5%).")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run(cmd, env, stdin=None, stdout=None, stderr=None):
    """Run cmd under GNU time. Returns dict(wall s, rss bytes, cpu s). Exits on failure."""
    full = ["/usr/bin/time", "-f", "%e %M %U %S", "-o", TIME_OUT] + cmd
    with open(stdin, "rb") if stdin else open(os.devnull, "rb") as si, \
            open(stdout or os.devnull, "wb") as so, open(stderr or os.devnull, "wb") as se:
        r = subprocess.run(full, stdin=si, stdout=so, stderr=se, env=env)
    if r.returncode != 0:
        tail = open(stderr).read()[-3000:] if stderr else ""
        sys.exit(f"command failed ({r.returncode}): {' '.join(cmd)}\n{tail}")
    with open(TIME_OUT) as f:
        e, m, u, s = f.read().strip().splitlines()[-1].split()
    return dict(wall=float(e), rss=int(m) * 1024, cpu=float(u) + float(s))


def du(path):
    return int(subprocess.run(["du", "-sb", path], capture_output=True, text=True, check=True).stdout.split()[0])


def sha_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def sha_cmd(cmd, env):
    h = hashlib.sha256()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    for b in iter(lambda: p.stdout.read(1 << 20), b""):
        h.update(b)
    err = p.stderr.read()
    if p.wait() != 0:
        sys.exit(f"restore failed: {' '.join(cmd)}: {err.decode()[-2000:]}")
    return h.hexdigest()


def copy_tree(src, dst):
    shutil.rmtree(dst, ignore_errors=True)
    subprocess.run(["cp", "-a", src, dst], check=True)


class Kando:
    name = "kando"

    def __init__(self, exe, work):
        self.exe, self.base = exe, os.path.join(work, "kando")
        self.env = dict(os.environ, KANDO_REPOSITORY_PASSWORD=PW, KANDO_PROGRESS="none")
        # The measured commands do all of the maintenance: no automatic maintenance after pushes.
        self.env["KANDO_NO_AUTO_MAINTENANCE"] = "true"
        self.ids = []

    def repo(self, d):
        return os.path.join(d, "repo")

    def populate(self, dumps, d):
        os.makedirs(d)
        logs = os.path.join(d, "logs")
        os.makedirs(logs)
        run([self.exe, "repository", "init", "--repo", self.repo(d)], self.env, stderr=f"{logs}/init.err")
        pushes = []
        for g, dump in enumerate(dumps):
            out = f"{logs}/push{g}.out"
            pushes.append(run([self.exe, "location", "push", "--repo", self.repo(d), "--path", "db/dump.sql",
                               "--progress", "none", "--no-auto-maintenance", dump], self.env, stdout=out,
                              stderr=f"{logs}/push{g}.err"))
            line = open(out).read().strip()
            self.ids.append(json.loads(json.loads(line.split(":", 1)[1])["value"])["id"])
        return pushes

    def steps(self, d, keep, verbose=False):
        """(label, command) of the maintenance sequence, in order."""
        r = ["--repo", self.repo(d)] + (["-v", "info"] if verbose else [])
        k = [self.exe, "repository"]
        return [
            ("forget", k + ["forget", "--keep-last", str(keep)] + r),
            ("gc", k + ["gc", "--min-age", "0s", "--json"] + r),
            ("compact", k + ["compact", "--json"] + r),
            ("gc2", k + ["gc", "--min-age", "0s", "--json"] + r),
            ("verify", k + ["verify", "--json"] + r),
            ("verify_read", k + ["verify", "--read-data", "--json"] + r),
        ]

    def kept(self, d):
        out = subprocess.run([self.exe, "repository", "snapshots", "--json", "--repo", self.repo(d)], env=self.env,
                             capture_output=True, check=True).stdout
        return [s["id"] for s in json.loads(out)]

    def restore_cmd(self, d, g):
        return [self.exe, "location", "pull", "--repo", self.repo(d), "--path", "db/dump.sql", "--snapshot",
                self.ids[g], "--progress", "none", "-"]


class Restic:
    name = "restic"

    def __init__(self, work):
        self.base = os.path.join(work, "restic")
        self.env = dict(os.environ, RESTIC_PASSWORD=PW)

    def repo(self, d):
        return os.path.join(d, "repo")

    def envd(self, d):
        return dict(self.env, RESTIC_REPOSITORY=self.repo(d), RESTIC_CACHE_DIR=os.path.join(d, "cache"))

    def populate(self, dumps, d):
        os.makedirs(d)
        logs = os.path.join(d, "logs")
        os.makedirs(logs)
        env = self.envd(d)
        run(["restic", "init", "--repository-version", "2"], env, stderr=f"{logs}/init.err")
        pushes = []
        for g, dump in enumerate(dumps):
            pushes.append(run(["restic", "backup", "--quiet", "--stdin", "--stdin-filename", "dump.sql", "--tag", f"gen{g}"],
                              env, stdin=dump, stderr=f"{logs}/backup{g}.err"))
        return pushes

    def steps(self, d, keep):
        return [
            ("forget_prune", ["restic", "forget", "--keep-last", str(keep), "--prune"]),
            ("check", ["restic", "check"]),
            ("check_read", ["restic", "check", "--read-data"]),
        ]

    def kept(self, d):
        out = subprocess.run(["restic", "snapshots", "--json"], env=self.envd(d), capture_output=True, check=True).stdout
        return sorted(int(t[3:]) for s in json.loads(out) for t in s.get("tags", []))

    def restore_cmd(self, d, g):
        return ["restic", "dump", "--tag", f"gen{g}", "latest", "/dump.sql"]


def round_dir(tool, i):
    return f"{tool.base}-round{i}"


def maintain(tool, pristine, d, keep):
    """Copy the populated repository to d and run the maintenance sequence; returns step → measures."""
    copy_tree(pristine, d)
    # Make every round start from the same page cache state as far as we can: the copy just
    # written is in memory for both tools alike (the machine has RAM to spare for both).
    res = {}
    env = tool.envd(d) if isinstance(tool, Restic) else tool.env
    for label, cmd in tool.steps(d, keep):
        res[label] = run(cmd, env, stdout=f"{d}/logs/{label}.out", stderr=f"{d}/logs/{label}.err")
    res["size"] = du(tool.repo(d))
    return res


def fmt_s(x):
    return f"{x:.2f} s"


def fmt_mb(x):
    return f"{x / 1e6:.1f} MB"


def y_top(figs):
    """The ratio axis: up to 1.25, or above the highest kando bar and its labels."""
    return max(1.25, max(f[1] / f[2] for f in figs) * 1.15)


def plot(path, figs, title, restic_label):
    """figs: list of (label, kando, restic, target ratio or None, unit formatter)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        matplotlib.rcParams["svg.fonttype"] = "none"  # text as text: a small SVG that diffs well
        matplotlib.rcParams["svg.hashsalt"] = "kanrepo-bench"  # the same ids on every run
    except ImportError:
        return plot_svg(path, figs, title, restic_label)
    fig, ax = plt.subplots(figsize=(9, 4.6))
    n = len(figs)
    xs = list(range(n))
    w = 0.36
    kr = [f[1] / f[2] for f in figs]
    ax.bar([x - w / 2 for x in xs], kr, w, label="kando", color="#2a7ab0")
    ax.bar([x + w / 2 for x in xs], [1.0] * n, w, label=f"{restic_label} (= 1)", color="#b9b9b9")
    for x, f, r in zip(xs, figs, kr):
        # Above the bar, and above the target line when that is higher (the line stays readable).
        above = max(r, f[3] + 0.02 if f[3] is not None and f[3] > r else 0)
        ax.text(x - w / 2, above + 0.02, f"{r:.2f}×\n{f[4](f[1])}", ha="center", va="bottom", fontsize=7.5)
        ax.text(x + w / 2, 1.02, f[4](f[2]), ha="center", va="bottom", fontsize=7.5)
        if f[3] is not None:
            ax.plot([x - w, x + w], [f[3], f[3]], color="#c0392b", lw=1.5, ls="--")
    ax.plot([], [], color="#c0392b", lw=1.5, ls="--", label="target")
    ax.set_xticks(xs)
    ax.set_xticklabels([f[0] for f in figs], fontsize=8.5)
    ax.set_ylabel("relative to restic (lower is better)")
    ax.set_ylim(0, y_top(figs))
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=3, frameon=False)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None})
    return "matplotlib"


def plot_svg(path, figs, title, restic_label):
    W, H, L, B, T = 760, 380, 60, 300, 40
    top = y_top(figs)
    y = lambda v: B - (B - T) * v / top
    n = len(figs)
    gw = (W - L - 20) / n
    bw = gw * 0.3
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="13">{title}</text>']
    step = 0.25 if top <= 2.5 else 0.5
    for v in [i * step for i in range(int(top / step) + 1)]:
        o.append(f'<line x1="{L}" x2="{W - 20}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>')
        o.append(f'<text x="{L - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.2f}</text>')
    o.append(f'<text transform="translate(16,{(B + T) / 2}) rotate(-90)" text-anchor="middle">relative to restic (lower is better)</text>')
    for i, (label, k, r, tgt, unit) in enumerate(figs):
        x0 = L + gw * i + gw / 2
        kr = k / r
        o.append(f'<rect x="{x0 - bw:.1f}" y="{y(kr):.1f}" width="{bw:.1f}" height="{B - y(kr):.1f}" fill="#2a7ab0"/>')
        o.append(f'<rect x="{x0:.1f}" y="{y(1):.1f}" width="{bw:.1f}" height="{B - y(1):.1f}" fill="#b9b9b9"/>')
        above = max(kr, tgt + 0.03 if tgt is not None and tgt > kr else 0)
        o.append(f'<text x="{x0 - bw / 2:.1f}" y="{y(above) - 16:.1f}" text-anchor="middle" font-size="10">{kr:.2f}×</text>')
        o.append(f'<text x="{x0 - bw / 2:.1f}" y="{y(above) - 4:.1f}" text-anchor="middle" font-size="9">{unit(k)}</text>')
        o.append(f'<text x="{x0 + bw / 2:.1f}" y="{y(1) - 4:.1f}" text-anchor="middle" font-size="9">{unit(r)}</text>')
        if tgt is not None:
            o.append(f'<line x1="{x0 - bw * 1.3:.1f}" x2="{x0 + bw * 1.3:.1f}" y1="{y(tgt):.1f}" y2="{y(tgt):.1f}" stroke="#c0392b" stroke-width="1.5" stroke-dasharray="5,3"/>')
        for j, part in enumerate(label.split("\n")):
            o.append(f'<text x="{x0:.1f}" y="{B + 16 + 13 * j}" text-anchor="middle">{part}</text>')
    lx = L + 10
    o.append(f'<rect x="{lx}" y="{H - 26}" width="12" height="10" fill="#2a7ab0"/><text x="{lx + 16}" y="{H - 17}">kando</text>')
    o.append(f'<rect x="{lx + 70}" y="{H - 26}" width="12" height="10" fill="#b9b9b9"/><text x="{lx + 86}" y="{H - 17}">{restic_label} (= 1)</text>')
    o.append(f'<line x1="{lx + 200}" x2="{lx + 224}" y1="{H - 21}" y2="{H - 21}" stroke="#c0392b" stroke-width="1.5" stroke-dasharray="5,3"/><text x="{lx + 230}" y="{H - 17}">target</text>')
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o) + "\n")
    return "hand-written SVG"


def plot_result(out, path):
    """Draw the bars of one MAINTENANCE_JSON result to path."""
    k, r = out["kando"], out["restic"]
    k_rss = max(v["peak_rss_bytes"] for v in k["steps"].values())
    r_rss = max(v["peak_rss_bytes"] for v in r["steps"].values())
    rv = out["restic_version"].split()
    title = f"Repository maintenance, {out['generations']} nightly dumps, keep-last {out['keep_last']}: kando vs restic"
    secs = lambda v: f"{v:.2f} s"
    mb = lambda v: f"{v / 1e6:.0f} MB"
    return plot(path, [
        ("forget + gc + compact\nvs forget --prune", k["forget_gc_compact_s"], r["forget_prune_s"], 0.2, secs),
        ("verify\nvs check", k["verify_s"], r["check_s"], None, secs),
        ("verify --read-data\nvs check --read-data", k["verify_read_data_s"], r["check_read_data_s"], 0.25, secs),
        ("repository after\nmaintenance", k["repo_bytes"], r["repo_bytes"], 1 / 3, mb),
        ("peak RSS (max)", k_rss, r_rss, TARGET_RSS_MB * 1e6 / r_rss, mb),
    ], title, "restic " + (rv[1] if len(rv) > 1 else ""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kando")
    ap.add_argument("--corpus", help="directory holding dump0.sql … dumpN-1.sql")
    ap.add_argument("--generations", type=int, default=30)
    ap.add_argument("--keep-last", type=int, default=7)
    ap.add_argument("--work")
    ap.add_argument("--repeat", type=int, default=3, help="maintenance rounds on fresh copies; times are medians")
    ap.add_argument("--plot", help="write the normalised bars here (SVG)")
    ap.add_argument("--no-phases", action="store_true", help="skip the -v info run of the kando commands")
    ap.add_argument("--replot", metavar="LOG", help="only redraw --plot from the MAINTENANCE_JSON line in LOG")
    a = ap.parse_args()
    if a.replot:
        line = [l for l in open(a.replot) if l.startswith("MAINTENANCE_JSON ")][-1]
        print(f"plot ({plot_result(json.loads(line.split(' ', 1)[1]), a.plot)}): {a.plot}")
        return
    if not (a.kando and a.corpus and a.work):
        ap.error("--kando, --corpus and --work are required")

    dumps = [os.path.join(a.corpus, f"dump{g}.sql") for g in range(a.generations)]
    for d in dumps:
        if not os.path.isfile(d):
            sys.exit(f"missing {d}")
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    sizes = [os.path.getsize(d) for d in dumps]
    kv = subprocess.run([a.kando, "--version"], capture_output=True, text=True).stdout.strip()
    rv = subprocess.run(["restic", "version"], capture_output=True, text=True).stdout.strip()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    machine = f"{os.cpu_count()} cores, {mem:.0f} GiB RAM, {platform.system()} {platform.release()}"
    print(f"{a.generations} dumps, {sizes[0] / 1e6:.1f} … {sizes[-1] / 1e6:.1f} MB ({sum(sizes) / 1e9:.2f} GB in all); "
          f"keep-last {a.keep_last}; {a.repeat} round(s)\n  {machine}\n  {kv}\n  {rv}", flush=True)
    print(GC_NOTE, flush=True)

    kando, restic = Kando(a.kando, a.work), Restic(a.work)
    pristine = {}
    pushes = {}
    before = {}
    for t in (kando, restic):
        p = t.base + "-pristine"
        print(f"== {t.name}: init, back up {a.generations} dumps", flush=True)
        t0 = time.time()
        pushes[t.name] = t.populate(dumps, p)
        before[t.name] = du(t.repo(p))
        pristine[t.name] = p
        print(f"   {time.time() - t0:.1f} s, repository {before[t.name] / 1e6:.1f} MB before maintenance", flush=True)

    rounds = {"kando": [], "restic": []}
    for i in range(a.repeat):
        for t in (kando, restic):
            la = os.getloadavg()
            print(f"== {t.name}: maintenance (round {i + 1}/{a.repeat}; load average {la[0]:.2f} {la[1]:.2f})",
                  flush=True)
            d = round_dir(t, i)
            res = maintain(t, pristine[t.name], d, a.keep_last)
            rounds[t.name].append(res)
            print("   " + ", ".join(f"{k} {v['wall']:.2f} s / {v['rss'] / 1e6:.0f} MB" for k, v in res.items() if k != "size")
                  + f"; repository {res['size'] / 1e6:.1f} MB", flush=True)
            if i < a.repeat - 1:
                shutil.rmtree(d)

    # Byte-exact: the kept snapshots of the last round restore to their dumps, with both tools.
    want = list(range(a.generations - a.keep_last, a.generations))
    exact = {}
    for t in (kando, restic):
        d = round_dir(t, a.repeat - 1)
        env = t.envd(d) if isinstance(t, Restic) else t.env
        kept = t.kept(d)
        if isinstance(t, Kando):
            ok = kept == [t.ids[g] for g in want]
        else:
            ok = kept == want
        if not ok:
            print(f"   {t.name}: kept snapshots {kept} are not generations {want}")
        for g in want:
            ok = ok and sha_cmd(t.restore_cmd(d, g), env) == sha_file(dumps[g])
        exact[t.name] = ok
        print(f"== {t.name}: the {a.keep_last} kept snapshots restore byte-exact: {'yes' if ok else 'NO'}", flush=True)

    reports = {}
    for label, _ in kando.steps(round_dir(kando, a.repeat - 1), a.keep_last):
        try:
            reports[label] = json.load(open(f"{round_dir(kando, a.repeat - 1)}/logs/{label}.out"))
        except ValueError:
            pass
    print("\n-- reports of the last round (stdout of each command)")
    for t in (kando, restic):
        d = round_dir(t, a.repeat - 1)
        for label, _ in t.steps(d, a.keep_last):
            text = open(f"{d}/logs/{label}.out", errors="replace").read().strip()
            out = text.splitlines()
            if isinstance(t, Kando) and label == "forget":
                out = out[-1:]  # one line per snapshot otherwise
            elif isinstance(t, Kando):
                try:  # the --json report, on one line
                    out = [json.dumps(json.loads(text), separators=(",", ":"))]
                except ValueError:
                    pass
            print(f"[{t.name} {label}]")
            for line in out[-12:]:
                print("   " + line)
    st = subprocess.run([a.kando, "repository", "stats", "--repo", kando.repo(round_dir(kando, a.repeat - 1))],
                        env=kando.env, capture_output=True, text=True).stdout
    print("[kando repository stats after maintenance]\n" + "".join("   " + l + "\n" for l in st.strip().splitlines()))

    if not a.no_phases:
        d = kando.base + "-phases"
        copy_tree(pristine["kando"], d)
        print("-- kando with -v info (one more copy; where the time goes)")
        for label, cmd in kando.steps(d, a.keep_last, verbose=True):
            t0 = time.time()
            p = subprocess.run(cmd, env=kando.env, capture_output=True, text=True)
            print(f"[{label}: {time.time() - t0:.2f} s, exit {p.returncode}]")
            for line in p.stderr.strip().splitlines()[-40:]:
                print("   " + ANSI.sub("", line))
        shutil.rmtree(d)

    med = lambda name, k, f="wall": statistics.median(r[k][f] for r in rounds[name])
    rss = lambda name, k: max(r[k]["rss"] for r in rounds[name])
    cpu = lambda name, k: statistics.median(r[k]["cpu"] for r in rounds[name])
    fgc = lambda r: sum(r[k]["wall"] for k in ("forget", "gc", "compact", "gc2"))
    k_fgc = statistics.median(fgc(r) for r in rounds["kando"])
    r_fp = med("restic", "forget_prune")
    k_ver, r_chk = med("kando", "verify"), med("restic", "check")
    k_vrd, r_crd = med("kando", "verify_read"), med("restic", "check_read")
    k_size = statistics.median(r["size"] for r in rounds["kando"])
    r_size = statistics.median(r["size"] for r in rounds["restic"])
    k_steps = ("forget", "gc", "compact", "gc2", "verify", "verify_read")
    k_rss = {k: rss("kando", k) for k in k_steps}
    r_rss = {k: rss("restic", k) for k in ("forget_prune", "check", "check_read")}
    k_rss_max = max(k_rss.values())

    rows = [
        ("forget + gc + compact (wall)", fmt_s(k_fgc), fmt_s(r_fp) + " (forget --prune)", k_fgc / r_fp, "≤ 0.20×", k_fgc <= r_fp / 5),
        ("verify (structure) vs check", fmt_s(k_ver), fmt_s(r_chk), k_ver / r_chk, "—", None),
        ("verify --read-data vs check --read-data", fmt_s(k_vrd), fmt_s(r_crd), k_vrd / r_crd, "≤ 0.25×", k_vrd <= r_crd / 4),
        ("repository after maintenance (du -sb)", fmt_mb(k_size), fmt_mb(r_size), k_size / r_size, "≤ 0.33×", k_size <= r_size / 3),
        ("peak RSS, max over the maintenance commands", fmt_mb(k_rss_max), fmt_mb(max(r_rss.values())),
         k_rss_max / max(r_rss.values()), f"each ≤ {TARGET_RSS_MB:.0f} MB", k_rss_max <= TARGET_RSS_MB * 1e6),
    ]
    print(f"\nmedians of {a.repeat} round(s) (peak RSS: maximum); repository before maintenance: "
          f"kando {before['kando'] / 1e6:.1f} MB, restic {before['restic'] / 1e6:.1f} MB")
    print(f"backing up the {a.generations} dumps: kando {sum(p['wall'] for p in pushes['kando']):.1f} s "
          f"(peak RSS {max(p['rss'] for p in pushes['kando']) / 1e6:.1f} MB), restic {sum(p['wall'] for p in pushes['restic']):.1f} s "
          f"(peak RSS {max(p['rss'] for p in pushes['restic']) / 1e6:.1f} MB)\n")
    hdr = f"{'figure':45} {'kando':>10} {'restic':>28} {'ratio':>7}  {'target':>12}  met?"
    print(hdr)
    for f, k, r, ratio, tgt, met in rows:
        print(f"{f:45} {k:>10} {r:>28} {ratio:6.2f}×  {tgt:>12}  {'-' if met is None else ('PASS' if met else 'FAIL')}")
    print("\nkando, each command (median wall, median CPU, max peak RSS):")
    names = {"forget": "forget --keep-last", "gc": "gc --min-age 0s", "compact": "compact", "gc2": "gc --min-age 0s (2nd)",
             "verify": "verify", "verify_read": "verify --read-data"}
    for k in k_steps:
        print(f"  {names[k]:24} {med('kando', k):7.2f} s  {cpu('kando', k):7.2f} CPU-s  {k_rss[k] / 1e6:7.1f} MB"
              f"  {'PASS' if k_rss[k] <= TARGET_RSS_MB * 1e6 else 'FAIL'} (≤ {TARGET_RSS_MB:.0f} MB)")
    print("restic, each command:")
    for k, n in (("forget_prune", "forget --prune"), ("check", "check"), ("check_read", "check --read-data")):
        print(f"  {n:24} {med('restic', k):7.2f} s  {cpu('restic', k):7.2f} CPU-s  {r_rss[k] / 1e6:7.1f} MB")
    print(f"kept snapshots byte-exact after maintenance: kando {'yes' if exact['kando'] else 'NO'}, "
          f"restic {'yes' if exact['restic'] else 'NO'}")
    print(GC_NOTE)

    out = dict(generations=a.generations, keep_last=a.keep_last, rounds=a.repeat, machine=machine, kando_version=kv,
               restic_version=rv, dump_bytes=sizes, before_bytes=before,
               kando=dict(forget_gc_compact_s=k_fgc, verify_s=k_ver, verify_read_data_s=k_vrd, repo_bytes=k_size,
                          steps={k: dict(wall_s=med("kando", k), cpu_s=cpu("kando", k), peak_rss_bytes=k_rss[k]) for k in k_steps},
                          push_s=sum(p["wall"] for p in pushes["kando"])),
               restic=dict(forget_prune_s=r_fp, check_s=r_chk, check_read_data_s=r_crd, repo_bytes=r_size,
                           steps={k: dict(wall_s=med("restic", k), cpu_s=cpu("restic", k), peak_rss_bytes=r_rss[k]) for k in r_rss},
                           backup_s=sum(p["wall"] for p in pushes["restic"])),
               targets={"forget_gc_compact_le_fifth": rows[0][5], "verify_read_data_le_quarter": rows[2][5],
                        "repo_le_third": rows[3][5], "rss_le_128mb": rows[4][5]},
               byte_exact=exact, kando_reports=reports)
    print("MAINTENANCE_JSON " + json.dumps(out))
    if a.plot:
        print(f"plot ({plot_result(out, a.plot)}): {a.plot}")
    for t in (kando, restic):
        shutil.rmtree(round_dir(t, a.repeat - 1), ignore_errors=True)
        shutil.rmtree(pristine[t.name], ignore_errors=True)
    if not all(exact.values()):
        sys.exit("a kept snapshot did not restore byte-exact after maintenance")


if __name__ == "__main__":
    main()
