#!/usr/bin/env python3
"""The plan against its baselines, run by run, from a bench_moe --interleave JSON (run.sh gap).

Rows named fit<REST> are the plan; ncm<REST> the best --n-cpu-moe N for the same budget and
llfit<REST> llama.cpp's own fit. With --interleave their runs took turns, so run i of each saw
about the same host: the ratio of run i to run i is the placement's, and its median over the
turns is steadier than a ratio of means when the host drifts. The range shows the spread.

Usage: paired.py sweep-gap.json
"""
import json
import statistics
import sys


def ratios(a, b):
    return [x / y for x, y in zip(a, b)]


def cell(rs):
    if not rs:
        return "n/a"
    return f"{statistics.median(rs):.3f} ({min(rs):.3f}–{max(rs):.3f})"


def main(path):
    rows = {r["config"]["name"]: r for r in json.load(open(path))}
    print("| plan row | baseline | turns | plan prompt t/s | baseline | paired prompt ratio, median "
          "(range) | plan decode t/s | baseline | paired decode ratio, median (range) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        if not name.startswith("fit"):
            continue
        for prefix in ("ncm", "llfit"):
            o = rows.get(prefix + name[3:])
            if not o:
                continue
            a, b = r["rust"], o["rust"]
            rp = ratios(a["prompt_tps"], b["prompt_tps"])
            rd = ratios(a["decode_tps"], b["decode_tps"])
            print(f"| {name} | {o['config']['name']} | {len(rd)} | "
                  f"{statistics.mean(a['prompt_tps']):,.1f} | {statistics.mean(b['prompt_tps']):,.1f} | "
                  f"{cell(rp)} | {statistics.mean(a['decode_tps']):.1f} | "
                  f"{statistics.mean(b['decode_tps']):.1f} | {cell(rd)} |")


if __name__ == "__main__":
    main(sys.argv[1])
