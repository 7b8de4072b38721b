#!/usr/bin/env python3
"""The placement planner's tables (issue 13) from a bench_moe JSON (run.sh plan).

Rows named fit<B>-p<P> are the plan for a budget of <B> GiB and a <P>-token prompt;
ncm<B>-p<P> the best --n-cpu-moe N within the same budget; llfit<B>-p<P> llama.cpp's
own fit. First table: every row's VRAM (predicted by the dry run, used after the runs
by the CUDA free-memory query) against its budget, and its speeds; second: the plan
over each baseline. Misses are printed as misses.

Usage: plan_table.py sweep-plan.json
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


def main(path):
    rows = json.load(open(path))
    by_name = {r["config"]["name"]: r for r in rows}
    fmt = lambda x: "n/a" if x is None else f"{x:,.1f}"
    print("| config | placement | budget GiB | predicted GiB | used after runs GiB | within budget "
          "| prompt t/s (predicted) | decode t/s (predicted) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        c, p = r["config"], r["config"].get("predicted") or {}
        budget = sum(p["budget_bytes"]) if p.get("budget_bytes") else budget_of(c["name"])
        predicted = sum(sum(parts) for _, parts in p.get("devices", [])) or None
        used = gpu_used(r)
        placement = (f"--n-cpu-moe {c['cpu_moe']}" if c.get("cpu_moe") is not None
                     else f"{len(c['plan_overrides'])} override(s)")
        ok = "n/a" if budget is None else ("yes" if used <= budget else "**MISS**")
        print(f"| {c['name']} | {placement} | {fmt(budget / GIB if budget else None)} | "
              f"{'n/a' if predicted is None else f'{predicted / GIB:.3f}'} | "
              f"{used / GIB:.3f} | {ok} | "
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
    main(sys.argv[1])
