#!/usr/bin/env python3
"""copy_report.py - the initial-copy report of copy_bench.sh.

usage: copy_report.py <copy_raw.csv> <out.md> <run_id> [<settings file>]

Per test and engine, over the measurements of that run whose status is ok:
the median seconds, rows/s and MB/s (source pg_table_size, 10^6 bytes, per
second), min and max rows/s; ratios of ours ("ext") to native and to
pglogical (medians of rows/s of the same run); the targets: ours at least
1.5x native for the multi-table copy and at least 1.0x native for the
single table.  Failed measurements are listed with their reason.
Stdlib only.
"""
import csv
import statistics
import sys

ENGINES = ["native", "pglogical", "ext"]
LABEL = {"native": "native", "pglogical": "pglogical", "ext": "ours"}
TARGETS = {"multi": 1.5, "single": 1.0}


def main():
    raw, out, run_id = sys.argv[1], sys.argv[2], sys.argv[3]
    settings = []
    if len(sys.argv) > 4:
        with open(sys.argv[4]) as f:
            settings = [l.rstrip("\n") for l in f if l.strip()]
    with open(raw, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["run_id"] == run_id]
    tests = [t for t in ("single", "multi") if any(r["test"] == t for r in rows)]
    tests += sorted({r["test"] for r in rows} - set(tests))
    engines = [e for e in ENGINES if any(r["engine"] == e for r in rows)]

    stats = {}
    for t in tests:
        for e in engines:
            ms = [r for r in rows if r["test"] == t and r["engine"] == e]
            ok = [r for r in ms if r["status"] == "ok" and float(r["secs"]) > 0]
            s = {"n": len(ms), "ok": len(ok)}
            if ok:
                secs = [float(r["secs"]) for r in ok]
                rps = [int(r["rows"]) / float(r["secs"]) for r in ok]
                mbs = [int(r["bytes"]) / 1e6 / float(r["secs"]) for r in ok]
                s.update(secs=statistics.median(secs), rps=statistics.median(rps),
                         mbs=statistics.median(mbs), lo=min(rps), hi=max(rps),
                         rows=int(ok[0]["rows"]), bytes=int(ok[0]["bytes"]))
            stats[(t, e)] = s

    L = [f"### Initial copy: decoderbufs_apply against native logical replication and pglogical ({run_id})", ""]
    mismatched = [r for r in rows if r["status"] == "mismatch"]
    if mismatched:
        L += [f"**FAIL: {len(mismatched)} {'copy' if len(mismatched) == 1 else 'copies'} left other row counts on the target than the source's "
              f"({', '.join(sorted({LABEL.get(r['engine'], r['engine']) + ' ' + r['test'] for r in mismatched}))}); "
              "see the failures below.**", ""]
    L += [f"- {l}" for l in settings]
    L += ["", "Time: subscription creation to every table of the test synced; MB = 10^6 bytes of the "
          "source tables' pg_table_size.  Medians of the runs that succeeded.", "",
          "| test | engine | ok / runs | seconds | rows/s | MB/s | rows/s min .. max |",
          "|---|---|---|---|---|---|---|"]
    for t in tests:
        for e in engines:
            s = stats[(t, e)]
            if "rps" in s:
                L.append(f"| {t} | {LABEL[e]} | {s['ok']} / {s['n']} | {s['secs']:.2f} | {s['rps']:,.0f} | "
                         f"{s['mbs']:.1f} | {s['lo']:,.0f} .. {s['hi']:,.0f} |")
            else:
                L.append(f"| {t} | {LABEL[e]} | 0 / {s['n']} | - | - | - | - |")

    def rate(t, e):
        return stats.get((t, e), {}).get("rps")

    L += ["", "| test | ours / native | ours / pglogical | target | met |", "|---|---|---|---|---|"]
    for t in tests:
        ours, nat, pgl = rate(t, "ext"), rate(t, "native"), rate(t, "pglogical")
        ratio = lambda a, b: f"{a / b:.2f}x" if a and b else "-"
        target = TARGETS.get(t)
        if target is None:
            met, tgt = "-", "-"
        else:
            tgt = f"at least {target:.1f}x native"
            if ours and nat:
                met = "yes" if ours / nat >= target else "**no**"
            elif not ours:
                met = "**no**: no copy of ours succeeded"
            else:
                met = "-: no copy of native succeeded"
        L.append(f"| {t} | {ratio(ours, nat)} | {ratio(ours, pgl)} | {tgt} | {met} |")

    bad = [r for r in rows if r["status"] != "ok"]
    if bad:
        L += ["", "Measurements that failed:", ""]
        seen = set()
        for r in bad:
            key = (r["engine"], r["test"], r["status"], r["detail"])
            runs = [x["run"] for x in bad if (x["engine"], x["test"], x["status"], x["detail"]) == key]
            if key in seen:
                continue
            seen.add(key)
            detail = r["detail"] if len(r["detail"]) <= 300 else r["detail"][:300] + "..."
            L.append(f"- {LABEL.get(r['engine'], r['engine'])} {r['test']} (run {', '.join(runs)}): "
                     f"{r['status']}: {detail}")
    text = "\n".join(L) + "\n"
    with open(out, "w") as o:
        o.write(text)
    print(text, end="")


if __name__ == "__main__":
    main()
