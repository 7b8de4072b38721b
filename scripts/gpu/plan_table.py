#!/usr/bin/env python3
"""The placement planner's table (issue 13) from a bench_moe JSON: per budget and
prompt length, the plan (`fit*`) against the best hand-picked --n-cpu-moe N that
fits the same budget (`ncm*`): VRAM predicted / measured, speeds measured (and
predicted for the plan), and plan / hand-picked ratios. Misses are printed as
misses.

Usage: plan_table.py sweep-plan.json
"""
import json
import re
import sys

GIB = float(1 << 30)


def mean(summary):
    return summary["mean"] if summary else float("nan")


def main(path):
    rows = json.load(open(path))
    by_name = {r["config"]["name"]: r for r in rows}
    print("| config | budget GiB | predicted GiB | used after runs GiB | within budget | "
          "predicted/used | prompt t/s | predicted prompt | decode t/s | predicted decode |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        c, p = r["config"], r["config"].get("predicted")
        if not p:
            continue
        budget = sum(p["budget_bytes"])
        predicted = sum(sum(parts) for _, parts in p["devices"])
        used = sum(b for n, b in r["device_used_after_runs"] if n != "CPU")
        prompt, decode = mean(r["rust"]["prompt_tps_summary"]), mean(r["rust"]["decode_tps_summary"])
        fmt = lambda x: "n/a" if x is None else f"{x:,.1f}"
        print(f"| {c['name']} | {budget / GIB:.2f} | {predicted / GIB:.3f} | {used / GIB:.3f} | "
              f"{'yes' if used <= budget else '**MISS**'} | {predicted / used if used else float('nan'):.3f} | "
              f"{prompt:,.1f} | {fmt(p['prompt_tps'])} | {decode:,.1f} | {fmt(p['decode_tps'])} |")
    print()
    print("| budget / prompt | plan prompt / best --n-cpu-moe | plan decode / best --n-cpu-moe | "
          "plan predicted/measured prompt | decode |")
    print("|---|---|---|---|---|")
    for name, r in by_name.items():
        m = re.fullmatch(r"fit(.+)", name)
        other = by_name.get("ncm" + m.group(1)) if m else None
        if not other:
            continue
        ratio = lambda key: mean(r["rust"][key]) / mean(other["rust"][key])
        p = r["config"]["predicted"]
        pp = p["prompt_tps"] / mean(r["rust"]["prompt_tps_summary"])
        pd = p["decode_tps"] / mean(r["rust"]["decode_tps_summary"])
        print(f"| {m.group(1)} | {ratio('prompt_tps_summary'):.3f} | {ratio('decode_tps_summary'):.3f} | "
              f"{pp:.3f} | {pd:.3f} |")


if __name__ == "__main__":
    main(sys.argv[1])
