#!/usr/bin/env python3
"""The plan against its baselines, run by run, from a bench_moe --interleave JSON (run.sh gap).

Rows named fit<REST> are the plan; ncm<REST> the best --n-cpu-moe N for the same budget,
llfit<REST> llama.cpp's own fit, first<REST> and last<REST> the plan with the first or the last
layers' experts moved first (fit_order=first|last), and aa<REST> the plan's row once more: its ratio to the plan is a placement
against itself, the noise floor the other ratios are read against. With --interleave their runs
took turns, so run i of each saw about the same host: the ratio of run i to run i is the
placement's, and its median over the turns is steadier than a ratio of means when the host drifts. The range shows the spread. The
last column pairs each run's decode by its median step (bench_moe's decode_median_tps, n/a in
older JSON): a step stalled by another tenant moves a run's mean, not its median.
Second table: each plan row over its prediction, and over its re-prediction with the planner
calibrated on the --cpu-moe and --n-cpu-moe N rows of the same turns (bench_moe does that when
they ran).

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
    paired(rows)
    predictions(rows)


def paired(rows):
    print("| plan row | baseline | turns | plan prompt t/s | baseline | paired prompt ratio, median "
          "(range) | plan decode t/s | baseline | paired decode ratio, median (range) | "
          "by median step |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        if not name.startswith("fit"):
            continue
        for prefix in ("aa", "ncm", "llfit", "first", "last"):
            o = rows.get(prefix + name[3:])
            if not o:
                continue
            a, b = r["rust"], o["rust"]
            rp = ratios(a["prompt_tps"], b["prompt_tps"])
            rd = ratios(a["decode_tps"], b["decode_tps"])
            rm = ratios(a.get("decode_median_tps", []), b.get("decode_median_tps", []))
            print(f"| {name} | {o['config']['name']} | {len(rd)} | "
                  f"{statistics.mean(a['prompt_tps']):,.1f} | {statistics.mean(b['prompt_tps']):,.1f} | "
                  f"{cell(rp)} | {statistics.mean(a['decode_tps']):.1f} | "
                  f"{statistics.mean(b['decode_tps']):.1f} | {cell(rd)} | {cell(rm)} |")


def predictions(rows):
    """Each plan row measured over its prediction: the plan's own (made with the calibration of
    an earlier call) and the re-prediction with the calibration rows of the same turns."""
    print()
    print("| plan row | prompt t/s | ÷ predicted | ÷ re-predicted | decode t/s | ÷ predicted "
          "| ÷ re-predicted |")
    print("|---|---|---|---|---|---|---|")
    calibration = None
    for name, r in rows.items():
        p = r["config"].get("predicted") or {}
        if not name.startswith("fit") or not p.get("decode_tps"):
            continue
        again = p.get("repredicted") or {}
        calibration = again.get("calibration", calibration)
        prompt = statistics.mean(r["rust"]["prompt_tps"])
        decode = statistics.mean(r["rust"]["decode_tps"])
        div = lambda x, key: f"{x / again[key]:.3f}" if again else "n/a"
        print(f"| {name} | {prompt:,.1f} | {prompt / p['prompt_tps']:.3f} | {div(prompt, 'prompt_tps')} "
              f"| {decode:.1f} | {decode / p['decode_tps']:.3f} | {div(decode, 'decode_tps')} |")
    if calibration:
        print(f"\nre-predicted with the calibration of the same turns: {calibration}")


if __name__ == "__main__":
    main(sys.argv[1])
