#!/usr/bin/env python3
"""apply_report.py - ratios of decoderbufs_apply ("ext") against native
logical replication and pglogical, from apply_bench.sh's raw CSV.

usage: apply_report.py <apply_raw.csv> <out.md> <run_id> [<run_id> ...]
Medians per (run, engine, test); ratios are ext / peer of the same run
(rows/s, or the inverse for resume latency, where less is better).
"""
import csv
import statistics
import sys


def main():
    raw, out, run_ids = sys.argv[1], sys.argv[2], sys.argv[3:]
    rows = [r for r in csv.DictReader(open(raw)) if r["run_id"] in run_ids and r["status"] == "ok"]
    med = {}
    for r in rows:
        secs, n = float(r["secs"]), int(r["rows"])
        med.setdefault((r["run_id"], r["engine"], r["test"]), []).append((n, secs))
    lines = ["### decoderbufs_apply against its peers (medians of each run)", "",
             "| run | test | native rows/s | pglogical rows/s | ours rows/s | ours / native | ours / pglogical |",
             "|---|---|---|---|---|---|---|"]
    for run_id in run_ids:
        tests = sorted({k[2] for k in med if k[0] == run_id})
        for t in tests:
            def rate(engine):
                v = med.get((run_id, engine, t))
                if not v:
                    return None
                if t == "resume_latency":
                    return statistics.median(s for _, s in v)
                return statistics.median(n / s for n, s in v if s > 0)
            nat, pgl, ext = rate("native"), rate("pglogical"), rate("ext")
            if t == "resume_latency":
                fmt = lambda x: "-" if x is None else f"{x:.3f} s"
                ratio = lambda a, b: "-" if not a or not b else f"{b / a:.2f}x faster"
            else:
                fmt = lambda x: "-" if x is None else f"{x:,.0f}"
                ratio = lambda a, b: "-" if not a or not b else f"{a / b:.2f}x"
            lines.append(f"| {run_id} | {t} | {fmt(nat)} | {fmt(pgl)} | {fmt(ext)} | "
                         f"{ratio(ext, nat)} | {ratio(ext, pgl)} |")
    with open(out, "w") as o:
        o.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
