#!/usr/bin/env python3
"""Aggregates bench/results/raw.jsonl (written by bench/run.sh) into the terminal table,
bench/results/latest.json and, with --docs DIR, DIR/performance.md and DIR/performance.png.
Every figure is the median of its runs with the min and max beside it."""
import argparse
import json
import os
import statistics
import subprocess
import sys

TARGETS = ["minitcp", "frames", "minitcp_off", "lwip", "relay", "kernel"]
LABEL = {"minitcp": "MiniTCP", "frames": "MiniTCP, socket frames (MINITCP_SHM=0)",
         "minitcp_off": "MiniTCP --offload off", "lwip": "lwIP 2.1.3", "relay": "TUN relay",
         "kernel": "Linux veth"}


def stat(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def load(results):
    rows = []
    with open(os.path.join(results, "raw.jsonl")) as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    print("report: skipping a bad line: " + line[:120], file=sys.stderr)
    meta = {}
    try:
        meta = json.load(open(os.path.join(results, "meta.json")))
    except (OSError, json.JSONDecodeError):
        pass
    return rows, meta


def aggregate(rows):
    out = {}
    by = {}
    for r in rows:
        by.setdefault(r["target"], {}).setdefault(r["figure"], []).append(r)
    for t, figs in by.items():
        o = out.setdefault(t, {})
        for fig in ("bulk_in", "bulk_out"):
            rs = figs.get(fig, [])
            if not rs:
                continue
            good = [r for r in rs if r["result"].get("ok")]
            gb = lambda r: r["result"]["bytes"] / 1e9
            o[fig] = {
                "gbps": stat([r["result"]["gbps"] for r in good]),
                "stack_cpu_s_per_gb": stat([r["result"]["stack_cpu_s"] / gb(r) for r in good if "stack_cpu_s" in r["result"]]),
                "machine_cpu_s_per_gb": stat([r["result"]["machine_cpu_s"] / gb(r) for r in good if "machine_cpu_s" in r["result"]]),
                "daemon_cpu_s_per_gb": stat([r["result"]["watch0_cpu_s"] / gb(r) for r in good if "watch0_cpu_s" in r["result"]]),
                "bytes": good[0]["result"]["bytes"] if good else None,
                "runs": len(rs),
                "failed_runs": len(rs) - len(good),
                "errors": sorted({r["result"].get("error", "") for r in rs if not r["result"].get("ok")} - {""}),
            }
            if fig == "bulk_in":
                o[fig]["verified"] = sorted({r.get("server_check", "none") for r in rs})
            else:
                o[fig]["verified"] = sorted({r["result"].get("verified", "?") for r in rs})
        if "echo_verify" in figs:
            o["echo_verify"] = figs["echo_verify"][0]["result"]
        rs = figs.get("rr", [])
        if rs:
            good = [r["result"] for r in rs if r["result"].get("ok")]
            o["rr"] = {"tps": stat([g["tps"] for g in good]), "p50_us": stat([g["p50_us"] for g in good]),
                       "p99_us": stat([g["p99_us"] for g in good]), "runs": len(rs), "failed_runs": len(rs) - len(good),
                       "errors": sorted({r["result"].get("error", "") for r in rs} - {""})}
        for fig in ("conn", "conn32"):
            rs = figs.get(fig, [])
            if rs:
                res = [r["result"] for r in rs]
                o[fig] = {"cps": stat([g["cps"] for g in res if "cps" in g]),
                          "failed_conns": sum(g.get("failed", 0) for g in res),
                          "clean_runs": sum(1 for g in res if g.get("ok")), "runs": len(rs),
                          "errors": sorted({g.get("first_error", g.get("error", "")) for g in res} - {""})}
        rs = figs.get("hold", [])
        if rs:
            held = [r.get("held", 0) for r in rs]
            o["hold"] = {
                "target_conns": rs[0]["result"].get("count"),
                "procs": rs[0]["result"].get("procs"),
                "held": stat(held),
                "echoing_after": stat([r["result"].get("echo_after", 0) for r in rs]),
                "clean_runs": sum(1 for r in rs if r["result"].get("ok")), "runs": len(rs),
                "errors": sorted({e for r in rs for e in r["result"].get("errors", [])})[:3],
            }
            if not rs[0].get("mem_na"):
                # memory per connection from the runs that held every connection (a run that
                # held fewer would divide by a smaller count; later runs also start from a
                # heap that malloc has not given back)
                full = [r for r in rs if r.get("held") and r["held"] == r["result"].get("count")] or [r for r in rs if r.get("held")]
                o["hold"]["rss_runs_used"] = [r["run"] for r in full]
                o["hold"]["rss_kib_per_conn"] = stat([(r["rss_held_kb"] - r["rss_before_kb"]) / r["held"] for r in full])
                o["hold"]["rss_before_kib"] = stat([r["rss_before_kb"] for r in rs])
                o["hold"]["rss_held_kib"] = stat([r["rss_held_kb"] for r in rs])
                if any(r.get("app_rss_held_kb") for r in rs):
                    o["hold"]["app_rss_kib_per_conn"] = stat([(r["app_rss_held_kb"] - r["app_rss_before_kb"]) / r["held"] for r in full])
        rs = figs.get("churn", [])
        if rs:
            res = [r["result"] for r in rs]
            slices = [g.get("slices", []) for g in res]
            nsl = max((len(s) for s in slices), default=0)
            o["churn"] = {
                "count": res[0].get("count"),
                "slice_cps": [stat([s[i]["cps"] for s in slices if len(s) > i and s[i]["complete"]]) for i in range(nsl)],
                # slices the time bound cut short: the rate of what got through before it
                "partial_slice_cps": [stat([s[i]["cps"] for s in slices if len(s) > i and not s[i]["complete"] and s[i]["ok"] + s[i]["failed"] > 0]) for i in range(nsl)],
                "last_first": stat([s[-1]["cps"] / s[0]["cps"] for s in slices if s and s[0]["cps"] > 0 and s[-1]["complete"] and s[0]["complete"]]),
                "done": stat([g.get("done", 0) for g in res]),
                "failed_conns": sum(g.get("failed", 0) for g in res),
                "timed_out_runs": sum(1 for g in res if g.get("timed_out")),
                "runs": len(res),
                "secs": stat([g.get("secs") for g in res]),
                "errors": sorted({g.get("first_error", g.get("error", "")) for g in res} - {""}),
            }
        for fig in ("profile_bulk_in", "profile_bulk_out"):
            if fig in figs:
                o[fig] = figs[fig][0]["result"]
        if "setup" in figs:
            o["setup_failed"] = True
    return out


def fmt(s, digits=2, scale=1.0):
    if not s:
        return "n/a"
    m, lo, hi = s["median"] * scale, s["min"] * scale, s["max"] * scale
    f = "{:.%df}" % digits
    return f"{f.format(m)} [{f.format(lo)}–{f.format(hi)}]"


def rows_for(agg):
    """(label, {target: cell}) rows of the main table."""
    def cell(t, fn):
        a = agg.get(t)
        if a is None:
            return "—"
        try:
            return fn(a)
        except (KeyError, TypeError, ZeroDivisionError):
            return "n/a"

    def bulk(fig):
        def f(a):
            b = a[fig]
            s = fmt(b["gbps"], 3)
            if b["failed_runs"]:
                s += f" ({b['failed_runs']}/{b['runs']} runs failed)"
            return s
        return f

    def conn(fig):
        def f(a):
            c = a[fig]
            s = fmt(c["cps"], 0)
            if c["failed_conns"]:
                s += f" ({c['failed_conns']} failed)"
            return s
        return f

    def hold(a):
        h = a["hold"]
        s = (f"{int(h['held']['median'])}/{h['target_conns']} (best {int(h['held']['max'])}, {h['procs']} procs, "
             f"{h['clean_runs']}/{h['runs']} runs clean)") if h.get("held") else "n/a"
        if h["clean_runs"] < h["runs"]:
            s += f"; echoing at the end {int(h['echoing_after']['median'])}"
        return s

    def mem(a):
        h = a["hold"]
        if "rss_kib_per_conn" not in h:
            return "N/A (kernel memory)"
        s = fmt(h["rss_kib_per_conn"], 1)
        if "app_rss_kib_per_conn" in h:
            s += f"; app {h['app_rss_kib_per_conn']['median']:.1f}"
        return s

    def verified(a):
        vi = ",".join(a["bulk_in"]["verified"]) if "bulk_in" in a else "-"
        vo = ",".join(a["bulk_out"]["verified"]) if "bulk_out" in a else "-"
        ev = a.get("echo_verify", {})
        e = "ok" if ev.get("ok") else ("FAILED" if ev else "-")
        return f"in: {vi}; out: {vo}; echo: {e}"

    return [
        ("bulk in, Gbit/s (client → discard)", {t: cell(t, bulk("bulk_in")) for t in TARGETS}),
        ("bulk out, Gbit/s (source → client)", {t: cell(t, bulk("bulk_out")) for t in TARGETS}),
        ("1-byte rr, transactions/s", {t: cell(t, lambda a: fmt(a["rr"]["tps"], 0)) for t in TARGETS}),
        ("rr latency p50 / p99, µs", {t: cell(t, lambda a: f"{a['rr']['p50_us']['median']:.1f} / {a['rr']['p99_us']['median']:.1f}") for t in TARGETS}),
        ("connections/s, sequential", {t: cell(t, conn("conn")) for t in TARGETS}),
        ("connections/s, 32 concurrent", {t: cell(t, conn("conn32")) for t in TARGETS}),
        ("established connections held", {t: cell(t, hold) for t in TARGETS}),
        ("resident KiB per idle connection", {t: cell(t, mem) for t in TARGETS}),
        ("stack CPU s/GB, in", {t: cell(t, lambda a: fmt(a["bulk_in"]["stack_cpu_s_per_gb"], 2)) for t in TARGETS}),
        ("stack CPU s/GB, out", {t: cell(t, lambda a: fmt(a["bulk_out"]["stack_cpu_s_per_gb"], 2)) for t in TARGETS}),
        ("MiniTCP daemon CPU s/GB, in / out", {t: cell(t, lambda a: f"{a['bulk_in']['daemon_cpu_s_per_gb']['median']:.2f} / {a['bulk_out']['daemon_cpu_s_per_gb']['median']:.2f}") if t in ("minitcp", "frames", "minitcp_off") else "—" for t in TARGETS}),
        ("machine CPU s/GB, in / out", {t: cell(t, lambda a: f"{a['bulk_in']['machine_cpu_s_per_gb']['median']:.2f} / {a['bulk_out']['machine_cpu_s_per_gb']['median']:.2f}") for t in TARGETS}),
        ("bytes verified", {t: cell(t, verified) for t in TARGETS}),
    ]


def churn_rows(agg):
    out = []
    for t in TARGETS:
        c = agg.get(t, {}).get("churn")
        if not c:
            continue
        sl = " / ".join(f"{s['median']:.0f}" if s else (f"{p['median']:.0f}*" if p else "—")
                        for s, p in zip(c["slice_cps"], c["partial_slice_cps"]))
        lf = f"{c['last_first']['median']:.2f}" if c["last_first"] else "n/a (a slice did not finish)"
        out.append((LABEL[t], sl, lf, f"{c['done']['median']:.0f}/{c['count']}", str(c["failed_conns"]),
                    f"{c['timed_out_runs']}/{c['runs']}", "; ".join(c["errors"])[:80]))
    return out


def ratios(agg):
    """MiniTCP against the bar of issue 5."""
    m = agg.get("minitcp", {})
    res = []

    def med(t, *path):
        a = agg.get(t, {})
        for p in path:
            a = a.get(p) if isinstance(a, dict) else None
            if a is None:
                return None
        return a["median"] if isinstance(a, dict) else a

    def ratio(name, path, ref, bar):
        x, y = med("minitcp", *path), med(ref, *path)
        if x is None or y is None or y == 0:
            res.append((name, f"vs {LABEL[ref]}", "n/a", f"≥ {bar}", "not measured"))
            return
        r = x / y
        res.append((name, f"vs {LABEL[ref]}", f"{r:.2f}×", f"≥ {bar}×", "met" if r >= bar else "NOT MET"))

    for fig, name in (("bulk_in", "bulk into the stack"), ("bulk_out", "bulk out of the stack")):
        ratio(name, (fig, "gbps"), "lwip", 1.0)
        ratio(name, (fig, "gbps"), "relay", 1.0)
    ratio("1-byte transactions/s", ("rr", "tps"), "lwip", 0.8)
    ratio("connections/s, sequential", ("conn", "cps"), "lwip", 1.0)
    ratio("connections/s, 32 concurrent", ("conn32", "cps"), "lwip", 1.0)
    h = m.get("hold")
    if h and h.get("held"):
        held = h["held"]["median"]
        ok = held >= 10000 and h["clean_runs"] == h["runs"]
        res.append(("connections held, all echoing", "", f"{held:.0f} (echoing {h['echoing_after']['median']:.0f})", "10,000", "met" if ok else "NOT MET"))
        if "rss_kib_per_conn" in h:
            k = h["rss_kib_per_conn"]["median"]
            res.append(("daemon KiB per idle connection", "", f"{k:.1f}", "≤ 16", "met" if k <= 16 else "NOT MET"))
    else:
        res.append(("connections held, all echoing", "", "n/a", "10,000", "not measured"))
    c = m.get("churn")
    if c:
        lf = c["last_first"]["median"] if c["last_first"] else None
        res.append(("issue 6: churn last/first slice", "", f"{lf:.2f}" if lf else "n/a",
                    "≥ 0.9, 0 failures", "met" if lf and lf >= 0.9 and c["failed_conns"] == 0 else "NOT MET"))
    return res


def text_table(header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths))
    return "\n".join([line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in rows])


def md_table(header, rows):
    esc = lambda c: str(c).replace("|", "\\|")
    return "\n".join(["| " + " | ".join(map(esc, header)) + " |", "|" + "---|" * len(header)]
                     + ["| " + " | ".join(map(esc, r)) + " |" for r in rows])


def present(agg):
    return [t for t in TARGETS if t in agg]


def plot(agg, docs):
    """One bar chart per figure across the targets (median, with min–max whiskers)."""
    panels = [("bulk in (Gbit/s)", ("bulk_in", "gbps")), ("bulk out (Gbit/s)", ("bulk_out", "gbps")),
              ("1-byte rr (transactions/s)", ("rr", "tps")), ("connections/s, sequential", ("conn", "cps")),
              ("connections/s, 32 concurrent", ("conn32", "cps")), ("stack CPU s per GB in", ("bulk_in", "stack_cpu_s_per_gb"))]
    ts = present(agg)
    datadir = os.path.join(os.path.dirname(docs), "build", "bench")
    os.makedirs(datadir, exist_ok=True)
    script = ["set terminal pngcairo size 1500,900 font 'sans,10'",
              f"set output '{os.path.join(docs, 'performance.png')}'",
              "set multiplot layout 2,3 title 'MiniTCP benchmark (median of runs, whiskers min–max; log scale)'",
              "set style fill solid 0.6 border -1", "set boxwidth 0.6", "set grid ytics", "unset key",
              "set xtics nomirror", "set logscale y", "set format y '%g'"]
    for i, (title, path) in enumerate(panels):
        fn = os.path.join(datadir, f"plot{i}.dat")
        with open(fn, "w") as f:
            n = 0
            for t in ts:
                s = agg[t].get(path[0], {}).get(path[1])
                if s and s["median"] > 0:
                    f.write(f"\"{LABEL[t]}\" {s['median']} {s['min']} {s['max']}\n")
                    n += 1
            if n == 0:
                f.write("\"none\" 1 1 1\n")
        script += [f"set title '{title}'", "set xrange [-0.6:%g]" % max(len(ts) - 0.4, 0.6),
                   f"plot '{fn}' using 0:2:xtic(1) with boxes lc rgb '#4a7ab5', '' using 0:2:3:4 with yerrorbars lc rgb 'black' pt 0"]
    script.append("unset multiplot")
    sp = os.path.join(datadir, "plot.gp")
    open(sp, "w").write("\n".join(script) + "\n")
    r = subprocess.run(["gnuplot", sp], capture_output=True, text=True)
    if r.returncode != 0:
        print("report: gnuplot failed:\n" + r.stderr, file=sys.stderr)


def write_docs(agg, meta, results, docs):
    ts = present(agg)
    header = ["figure"] + [LABEL[t] for t in ts]
    main = [[label] + [cells[t] for t in ts] for label, cells in rows_for(agg)]
    notes_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "performance_notes.md")
    notes = open(notes_path).read() if os.path.exists(notes_path) else ""
    # the figures under attack come from bench/abuse.sh runs, kept by hand in under_attack.md
    attack_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "under_attack.md")
    attack = open(attack_path).read().rstrip() + "\n" if os.path.exists(attack_path) else ""
    # the loss figures come from bench/loss.sh runs, kept by hand in loss.md
    loss_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "loss.md")
    loss = "\n" + open(loss_path).read().rstrip() + "\n" if os.path.exists(loss_path) else ""
    prof = ""
    for name, title in (("profile_top.txt", "self cost (Ir), top symbols"), ("profile_inclusive.txt", "inclusive cost (Ir)")):
        p = os.path.join(results, name)
        if os.path.exists(p) and os.path.getsize(p) > 0:
            prof += f"\n{title}, from `callgrind_annotate` on `bench/results/callgrind.out.minitcpd`:\n\n```\n{open(p).read().rstrip()}\n```\n"
    lines = [
        "# Performance",
        "",
        "Generated by `bench/run.sh --docs` (bench/report.py) from one run; the analysis notes at the end",
        "come from bench/performance_notes.md. Numbers are the median of the runs with [min–max].",
        "",
        "## The machine and the run",
        "",
        f"- {meta.get('nproc', '?')} cores, {meta.get('cpu', '?')}, {meta.get('mem_gib', '?')} GiB, Linux {meta.get('kernel', '?')}",
        f"- load average at the start: {' '.join(meta.get('loadavg', []))} (the machine is shared with other work: see the notes)",
        f"- MiniTCP commit {meta.get('commit', '?')} (build/gcc, RelWithDebInfo); liblwip-dev {meta.get('lwip', '?')}",
        f"- command: `{meta.get('cmdline', 'bench/run.sh')}`, {meta.get('runs', '?')} runs per figure{' (--quick: a smoke test)' if meta.get('quick') else ''}",
        "",
        "## Results",
        "",
        md_table(header, main),
        "",
        "![bar charts per figure](performance.png)",
        "",
        "## MiniTCP against the bar (issue 5)",
        "",
        md_table(["figure", "reference", "MiniTCP ratio / value", "bar", "verdict"], ratios(agg)),
        "",
        "## Connection churn (issue 6)",
        "",
        "20,000 sequential connect → GET → read to EOF → close on the HTTP port (the server closes first, so",
        "it holds every connection in TIME_WAIT), the client's `ip_local_port_range` narrowed to 1,000 ports",
        "in its namespace so 4-tuples are reused while still in TIME_WAIT on the server. Connect timeout",
        "1 s; each run bounded in time. Connections/s per slice of 5,000 (successful connections over the",
        "slice's wall time; * = a slice the time bound cut short, rate of what got through):",
        "",
        md_table(["target", "slice 1 / 2 / 3 / 4 conn/s", "last/first", "done (median)", "failed", "runs cut by the time bound", "errors"], churn_rows(agg)) if churn_rows(agg) else "(not measured in this run)",
        "",
        attack + loss,
        "## Profile of MiniTCP's bulk path",
        "",
        "`perf stat -e instructions true` reports the counter as not supported on this machine, so the",
        "profile is callgrind: minitcpd under `valgrind --tool=callgrind` while 64 MiB go in (discard) and",
        "64 MiB come out (source)." + (" " if prof else " (No profile in this run.)"),
        prof,
        notes,
    ]
    open(os.path.join(docs, "performance.md"), "w").write("\n".join(lines).rstrip() + "\n")
    plot(agg, docs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    ap.add_argument("--docs")
    a = ap.parse_args()
    rows, meta = load(a.results)
    agg = aggregate(rows)
    json.dump({"meta": meta, "targets": agg, "ratios": [dict(zip(["figure", "reference", "value", "bar", "verdict"], r)) for r in ratios(agg)]},
              open(os.path.join(a.results, "latest.json"), "w"), indent=1)
    ts = present(agg)
    print()
    print(text_table(["figure"] + [LABEL[t] for t in ts], [[l] + [c[t] for t in ts] for l, c in rows_for(agg)]))
    cr = churn_rows(agg)
    if cr:
        print("\nconnection churn (issue 6), 4 slices of 5,000:")
        print(text_table(["target", "slice conn/s", "last/first", "done", "failed", "cut", "errors"], cr))
    if "minitcp" in agg:
        print("\nMiniTCP against the bar:")
        print(text_table(["figure", "reference", "value", "bar", "verdict"], ratios(agg)))
    print(f"\nresults: {os.path.join(a.results, 'latest.json')}")
    if a.docs:
        write_docs(agg, meta, a.results, a.docs)
        print(f"docs: {os.path.join(a.docs, 'performance.md')}, performance.png")


if __name__ == "__main__":
    main()
