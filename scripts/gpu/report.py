#!/usr/bin/env python3
"""Turns bench_moe JSON files into the Markdown tables of docs/BENCHMARKS.md.

Usage: scripts/gpu/report.py bench-gpt-oss-20b.json [more.json ...]
"""
import json
import sys

GIB = 1 << 30


def cell(summary, digits=1):
    if not summary:
        return "n/a"
    return f"{summary['mean']:,.{digits}f} ± {summary['sd']:,.{digits}f}"


def model_name(path):
    """bench-gpt-oss-20b.json -> gpt-oss-20b."""
    return path.rsplit("/", 1)[-1].removeprefix("bench-").removesuffix(".json")


def ratios(r, what):
    """Ratio of means / median of the per-run (Rust i) / (C i) ratios."""
    means, paired = r.get(f"rust_over_c_{what}"), r.get(f"rust_over_c_{what}_paired_median")
    if means is None:
        return "n/a"
    return f"{means:.3f} / {paired:.3f}" if paired is not None else f"{means:.3f}"


def describe(c):
    extra = []
    if c["cpu_moe"]:
        extra.append("--cpu-moe" if c["cpu_moe"] == "all" else f"--n-cpu-moe {c['cpu_moe']}")
    extra.append("mmap" if c["mmap"] else "read")
    extra.append(f"{c['threads']} thr, ub {c['ubatch']}, p {c['prompt']}")
    if c.get("example_defaults"):
        extra.append(f"moe_offload defaults (ctx {c['n_ctx']}, n_outputs_max {c['n_outputs_max']}, swa_full off)")
    if not c["op_offload"]:
        extra.append("no op offload")
    return f"{c['name']}: {', '.join(extra)}"


def main(paths):
    print("| model | config | VRAM load+ctx | VRAM after runs | GPU weights | host weights | RSS after load | load s "
          "| prompt t/s Rust | prompt t/s C | decode t/s Rust | decode t/s C | TTFT ms Rust | Rust/C prompt | Rust/C decode |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for path in paths:
        model = model_name(path)
        for r in json.load(open(path)):
            gpu = lambda key: sum(used for name, used in r.get(key, []) if name != "CPU") / GIB
            gpu_w = sum(b["weights"] for b in r["buffers"] if b["device"] != "CPU")
            host_w = sum(b["weights"] for b in r["buffers"] if b["device"] == "CPU")
            rust, cl = r["rust"], r.get("c") or {}
            print(f"| {model} | {describe(r['config'])} | {gpu('device_used_bytes'):.2f} GiB "
                  f"| {gpu('device_used_after_runs'):.2f} GiB | {gpu_w / GIB:.2f} GiB "
                  f"| {host_w / GIB:.2f} GiB | {r['rss_after_load'] / GIB:.2f} GiB | {r['load_seconds']:.1f} "
                  f"| {cell(rust['prompt_tps_summary'])} | {cell(cl.get('prompt_tps_summary'))} "
                  f"| {cell(rust['decode_tps_summary'])} | {cell(cl.get('decode_tps_summary'))} "
                  f"| {cell(rust['ttft_ms_summary'])} | {ratios(r, 'prompt')} | {ratios(r, 'decode')} |")


if __name__ == "__main__":
    main(sys.argv[1:])
