#!/usr/bin/env python3
"""Summarize raw benchmark CSVs into markdown tables (min/median/max).

usage: summarize.py decode <raw.csv> <out.md> [run_id]
       summarize.py apply  <raw.csv> <out.md> [run_id]
       summarize.py report <raw.csv> <out.md> [run_id] [key=label ...]
If run_id is omitted (or "-") the most recent run_id in the CSV is used.

"report" is the side-by-side view of a decode run that `make bench` writes:
median changes/s per plugin and mode, bytes per change, ratios against
Debezium's decoderbufs and pgoutput measured in the same run, and the
project's targets checked against those ratios.  The labels it compares are
given as key=label: dbz, pgoutput, default, compact, batched (defaults are
the labels bench/run.sh uses).
Stdlib only.
"""
import csv, statistics, sys
from collections import OrderedDict


def load(path, run_id):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return [], None
    if run_id is None:
        run_id = rows[-1]["run_id"]
    return [r for r in rows if r["run_id"] == run_id], run_id


def mmm(vals):
    vals = sorted(vals)
    return vals[0], statistics.median(vals), vals[-1]


def fmt(x, nd=0):
    if x is None:
        return "-"
    if nd == 0:
        return f"{x:,.0f}"
    return f"{x:,.{nd}f}"


def decode(rows, run_id, out):
    groups = OrderedDict()
    for r in rows:
        key = (r["phase"], r["label"], r["mode"])
        groups.setdefault(key, []).append(r)
    lines = [f"### decode_bench run `{run_id}`", ""]
    if rows:
        r0 = rows[0]
        lines.append(f"PG: {r0['pg']}; plugin options in `label` column are listed in the run log.")
        lines.append("")
    lines.append("| phase | plugin (label) | mode | n | rows | rows/s min | rows/s median | rows/s max | secs median | bytes/row | msgs | errors |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for (phase, label, mode), rs in groups.items():
        ok = [r for r in rs if r["status"] == "ok"]
        err = len(rs) - len(ok)
        if ok:
            rates = [int(r["rows"]) / float(r["secs"]) for r in ok]
            secs = [float(r["secs"]) for r in ok]
            mn, md, mx = mmm(rates)
            smd = statistics.median(secs)
            byts = [int(r["bytes"]) for r in ok if r["bytes"] not in ("", "-1")]
            bpr = (statistics.median(byts) / int(ok[0]["rows"])) if byts else None
            msgs = [int(r["msgs"]) for r in ok if r["msgs"] not in ("", "-1")]
            msg = statistics.median(msgs) if msgs else None
            lines.append(f"| {phase} | {label} | {mode} | {len(ok)} | {fmt(int(ok[0]['rows']))} | {fmt(mn)} | {fmt(md)} | {fmt(mx)} | {fmt(smd,2)} | {fmt(bpr,1)} | {fmt(msg)} | {err} |")
        else:
            lines.append(f"| {phase} | {label} | {mode} | 0 | {rs[0]['rows']} | - | - | - | - | - | - | {err} ({rs[0]['status']}) |")
    open(out, "w").write("\n".join(lines) + "\n")


def apply_(rows, run_id, out):
    groups = OrderedDict()
    for r in rows:
        key = (r["engine"], r["test"])
        groups.setdefault(key, []).append(r)
    lines = [f"### apply_bench run `{run_id}`", ""]
    lines.append("| engine | test | n | rows | rows/s min | rows/s median | rows/s max | secs min | secs median | secs max | errors |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for (engine, test), rs in groups.items():
        ok = [r for r in rs if r["status"] == "ok"]
        err = len(rs) - len(ok)
        errs = ",".join(sorted(set(r["status"] for r in rs if r["status"] != "ok")))
        if ok:
            smn, smd, smx = mmm([float(r["secs"]) for r in ok])
            if int(ok[0]["rows"]) > 0:
                mn, md, mx = mmm([int(r["rows"]) / max(float(r["secs"]), 1e-9) for r in ok])
            else:
                mn = md = mx = None
            lines.append(f"| {engine} | {test} | {len(ok)} | {fmt(int(ok[0]['rows']))} | {fmt(mn)} | {fmt(md)} | {fmt(mx)} | {fmt(smn,2)} | {fmt(smd,2)} | {fmt(smx,2)} | {err}{' ('+errs+')' if err else ''} |")
        else:
            lines.append(f"| {engine} | {test} | 0 | {rs[0]['rows']} | - | - | - | - | - | - | {err} ({errs}) |")
    open(out, "w").write("\n".join(lines) + "\n")


REPORT_LABELS = {"dbz": "debezium", "pgoutput": "pgoutput", "default": "ours_default",
                 "compact": "ours_compact", "batched": "ours_compact_batched"}
MODE_NAMES = {"sql": "SQL", "stream": "pg_recvlogical", "nullrecv": "nullrecv"}


def medians(rows):
    """(phase, label, mode) -> dict(rows, secs, bytes, msgs) of the ok runs' medians."""
    groups = OrderedDict()
    for r in rows:
        if r["status"] == "ok":
            groups.setdefault((r["phase"], r["label"], r["mode"]), []).append(r)
    out = OrderedDict()
    for key, rs in groups.items():
        byts = [int(r["bytes"]) for r in rs if r["bytes"] not in ("", "-1")]
        msgs = [int(r["msgs"]) for r in rs if r["msgs"] not in ("", "-1")]
        out[key] = {"rows": int(rs[0]["rows"]), "n": len(rs),
                    "secs": statistics.median(float(r["secs"]) for r in rs),
                    "bytes": statistics.median(byts) if byts else None,
                    "msgs": statistics.median(msgs) if msgs else None}
    return out


def report(rows, run_id, out, labels):
    med = medians(rows)
    phases = list(OrderedDict.fromkeys(k[0] for k in med))
    plugins = list(OrderedDict.fromkeys(k[1] for k in med))
    modes = [m for m in ("sql", "stream", "nullrecv") if any(k[2] == m for k in med)]

    # "all": every phase together, as total changes over the sum of median times
    def get(phase, label, mode):
        if phase != "all":
            return med.get((phase, label, mode))
        parts = [med.get((ph, label, mode)) for ph in phases]
        if not parts or any(p is None for p in parts):
            return None
        byts = [p["bytes"] for p in parts]
        return {"rows": sum(p["rows"] for p in parts), "secs": sum(p["secs"] for p in parts),
                "n": min(p["n"] for p in parts),
                "bytes": sum(byts) if all(b is not None for b in byts) else None}

    def rate(phase, label, mode):
        m = get(phase, label, mode)
        return m["rows"] / m["secs"] if m and m["secs"] > 0 else None

    def bpc(phase, label):
        for mode in ("sql", "nullrecv"):
            m = get(phase, label, mode)
            if m and m["bytes"] is not None:
                return m["bytes"] / m["rows"]
        return None

    def ratio(a, b):
        return f"{a / b:.2f}x" if a is not None and b else "-"

    dbz, pgo = labels["dbz"], labels["pgoutput"]
    r0 = rows[0] if rows else {}
    L = [f"## Decode benchmark `{run_id}`", "",
         f"PostgreSQL {r0.get('pg', '?')}; medians of {max((v['n'] for v in med.values()), default=0)} runs; "
         "changes/s = rows changed by the workload / wall-clock seconds of the decoding call or stream; "
         "bytes/change = all output bytes (BEGIN, COMMIT, relation messages included) / changes. "
         f"Ratios are against `{dbz}` (Debezium's decoderbufs) and `{pgo}` measured in this same run.", ""]
    for phase in phases + ["all"]:
        nrows = get(phase, plugins[0], modes[0])["rows"] if get(phase, plugins[0], modes[0]) else 0
        title = "all phases together" if phase == "all" else f"phase `{phase}`"
        L += [f"### {title} ({nrows:,} changes)", ""]
        head = "| plugin | " + " | ".join(f"{MODE_NAMES[m]} changes/s" for m in modes) + \
               " | bytes/change | " + " | ".join(f"{MODE_NAMES[m]} vs dbz" for m in modes) + \
               " | " + " | ".join(f"{MODE_NAMES[m]} vs pgoutput" for m in modes) + " | bytes vs dbz | bytes vs pgoutput |"
        L += [head, "|" + "---|" * (head.count("|") - 1)]
        for p in plugins:
            cells = [fmt(rate(phase, p, m)) for m in modes]
            b = bpc(phase, p)
            cells.append(fmt(b, 1))
            cells += [ratio(rate(phase, p, m), rate(phase, dbz, m)) for m in modes]
            cells += [ratio(rate(phase, p, m), rate(phase, pgo, m)) for m in modes]
            cells += [ratio(b, bpc(phase, dbz)), ratio(b, bpc(phase, pgo))]
            L.append(f"| {p} | " + " | ".join(cells) + " |")
        L.append("")

    # the targets of the benchmark issue
    def check(ok):
        return "-" if ok is None else ("met" if ok else "NOT met")
    L += ["### Targets", "", "| target | phase | measured | result |", "|---|---|---|---|"]
    for phase in phases + ["all"]:
        a, b = rate(phase, labels["default"], "sql"), rate(phase, dbz, "sql")
        ok = None if a is None or not b else a >= 1.5 * b
        L.append(f"| default mode SQL >= 1.5x Debezium changes/s | {phase} | {ratio(a, b)} | {check(ok)} |")
    for phase in phases + ["all"]:
        mo, md = get(phase, labels["default"], "sql"), get(phase, dbz, "sql")
        ok = None if not mo or not md or mo["bytes"] is None else mo["bytes"] == md["bytes"]
        got = "-" if ok is None else f"{mo['bytes']:,.0f} vs {md['bytes']:,.0f} bytes"
        L.append(f"| default mode same bytes as Debezium | {phase} | {got} | {check(ok)} |")
    for phase in phases + ["all"]:
        a, b = bpc(phase, labels["compact"]), bpc(phase, pgo)
        ok = None if a is None or b is None else a <= b
        got = "-" if ok is None else f"{a:.1f} vs {b:.1f} bytes/change"
        L.append(f"| compact bytes/change <= pgoutput | {phase} | {got} | {check(ok)} |")
    for mode in ("stream", "nullrecv"):
        if mode not in modes:
            continue
        for phase in phases + ["all"]:
            a, b = rate(phase, labels["batched"], mode), rate(phase, pgo, mode)
            ok = None if a is None or not b else a >= 2 * b
            L.append(f"| compact batched streamed ({MODE_NAMES[mode]}) >= 2x pgoutput | {phase} | {ratio(a, b)} | {check(ok)} |")
    L.append("")
    open(out, "w").write("\n".join(L) + "\n")


if __name__ == "__main__":
    kind, raw, out = sys.argv[1:4]
    run_id = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] != "-" else None
    rows, run_id = load(raw, run_id)
    if kind == "report":
        labels = dict(REPORT_LABELS)
        labels.update(kv.split("=", 1) for kv in sys.argv[5:])
        report(rows, run_id, out, labels)
    else:
        (decode if kind == "decode" else apply_)(rows, run_id, out)
