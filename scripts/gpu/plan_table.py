#!/usr/bin/env python3
"""The placement planner's tables (issue 13) from a bench_moe JSON (run.sh plan).

Rows named fit<B>-p<P> are the plan for a budget of <B> GiB and a <P>-token prompt;
ncm<B>-p<P> the best --n-cpu-moe N within the same budget; llfit<B>-p<P> llama.cpp's
own fit. First table: every row's VRAM (llama.cpp's dry run; the predicted peak, the
dry run plus the planner's reserve; used after the runs by the CUDA free-memory query)
against its budget, and its speeds; second: the plan over each baseline. Misses are
printed as misses.

"Fresh process" marks the rows of a file's first model load: the CUDA backend loads its
kernels and cuBLAS on first use, once per process, so only those rows show what a process
that loads this placement alone uses (run.sh plan runs each plan in its own process).

Usage: plan_table.py sweep-plan.json [more.json...]
"""
import json
import re
import sys

GIB = float(1 << 30)


def mean(summary):
    return summary["mean"] if summary else float("nan")


def gpu_used(row):
    return sum(b for name, b in row["device_used_after_runs"] if name != "CPU")


def budget_of(name):
    m = re.match(r"[a-z]+(\d+(?:\.\d+)?)-", name)
    return float(m.group(1)) * GIB if m else None


def load(paths):
    """Every file's rows, each marked fresh when it shares the file's first model load
    (rows that share a load have the same load time)."""
    rows = []
    for path in paths:
        try:
            file_rows = json.load(open(path))
        except FileNotFoundError:
            print(f"{path}: missing (its sweep failed)", file=sys.stderr)
            continue
        for r in file_rows:
            r["fresh"] = r["load_seconds"] == file_rows[0]["load_seconds"]
        rows += file_rows
    return rows


def main(paths):
    rows = load(paths)
    by_name = {r["config"]["name"]: r for r in rows}
    fmt = lambda x: "n/a" if x is None else f"{x:,.1f}"
    gib = lambda x: "n/a" if x is None else f"{x / GIB:.3f}"
    print("| config | placement | fresh process | budget GiB | dry run GiB | predicted peak GiB "
          "| used after runs GiB | peak / used | within budget "
          "| prompt t/s (predicted) | decode t/s (predicted) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        c, p = r["config"], r["config"].get("predicted") or {}
        budget = sum(p["budget_bytes"]) if p.get("budget_bytes") else budget_of(c["name"])
        predicted = sum(sum(parts) for _, parts in p.get("devices", [])) or None
        peak = (predicted + p.get("reserve_bytes", 0) * len(p["devices"])
                if predicted else None)
        used = gpu_used(r)
        placement = (f"--n-cpu-moe {c['cpu_moe']}" if c.get("cpu_moe") is not None
                     else f"{len(c['plan_overrides'])} override(s)")
        ok = "n/a" if budget is None else ("yes" if used <= budget else "**MISS**")
        print(f"| {c['name']} | {placement} | {'yes' if r['fresh'] else 'no'} | "
              f"{fmt(budget / GIB if budget else None)} | {gib(predicted)} | {gib(peak)} | "
              f"{used / GIB:.3f} | {'n/a' if peak is None else f'{peak / used:.3f}'} | {ok} | "
              f"{mean(r['rust']['prompt_tps_summary']):,.1f} ({fmt(p.get('prompt_tps'))}) | "
              f"{mean(r['rust']['decode_tps_summary']):,.1f} ({fmt(p.get('decode_tps'))}) |")
    print()
    print("| budget, prompt | plan / best --n-cpu-moe: prompt | decode | "
          "plan / llama.cpp fit: prompt | decode | plan measured / predicted: prompt | decode |")
    print("|---|---|---|---|---|---|---|")
    for name, r in by_name.items():
        m = re.fullmatch(r"fit(.+)", name)
        if not m:
            continue
        def ratio(other, key):
            o = by_name.get(other + m.group(1))
            return f"{mean(r['rust'][key]) / mean(o['rust'][key]):.3f}" if o else "n/a"
        p = r["config"]["predicted"]
        mp = mean(r["rust"]["prompt_tps_summary"]) / p["prompt_tps"]
        md = mean(r["rust"]["decode_tps_summary"]) / p["decode_tps"]
        print(f"| {m.group(1)} | {ratio('ncm', 'prompt_tps_summary')} | "
              f"{ratio('ncm', 'decode_tps_summary')} | {ratio('llfit', 'prompt_tps_summary')} | "
              f"{ratio('llfit', 'decode_tps_summary')} | {mp:.3f} | {md:.3f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
