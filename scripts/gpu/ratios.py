#!/usr/bin/env python3
"""Rust/C per row, pooled over every bench_moe JSON file given: the per-run
ratios (Rust run i over C run i, which ran next to it) of rows with the same
model and configuration name, their median, and a 95% bootstrap interval of
that median (fixed seed, so the table is reproducible).

Usage: scripts/gpu/ratios.py docs/measurements/bench-*.json docs/measurements/*/bench-*.json
"""
import json
import random
import statistics
import sys
from collections import defaultdict

from report import model_name

RESAMPLES = 10_000


def median_interval(ratios, rng):
    medians = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(RESAMPLES))
    return medians[int(0.025 * RESAMPLES)], medians[int(0.975 * RESAMPLES) - 1]


def main(paths):
    rows = defaultdict(lambda: {"prompt": [], "decode": [], "files": 0})
    for path in paths:
        model = model_name(path)
        for r in json.load(open(path)):
            if not r.get("c"):
                continue
            row = rows[(model, r["config"]["name"])]
            row["files"] += 1
            for what in ("prompt", "decode"):
                rust, c = r["rust"][f"{what}_tps"], r["c"][f"{what}_tps"]
                row[what] += [x / y for x, y in zip(rust, c)]
    rng = random.Random(0)
    print("| model | config | bench runs | pairs | prompt: median [95% CI] | decode: median [95% CI] |")
    print("|---|---|---|---|---|---|")
    pooled = {"prompt": [], "decode": []}
    for (model, name), row in rows.items():
        cells = []
        for what in ("prompt", "decode"):
            ratios = row[what]
            pooled[what] += ratios
            low, high = median_interval(ratios, rng)
            cells.append(f"{statistics.median(ratios):.3f} [{low:.3f}, {high:.3f}]")
        print(f"| {model} | {name} | {row['files']} | {len(row['prompt'])} | {cells[0]} | {cells[1]} |")
    cells = []
    for what in ("prompt", "decode"):
        low, high = median_interval(pooled[what], rng)
        cells.append(f"{statistics.median(pooled[what]):.3f} [{low:.3f}, {high:.3f}]")
    print(f"| all | all rows | | {len(pooled['prompt'])} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main(sys.argv[1:])
