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


def main(paths):
    print("| model | config | VRAM used (load+ctx) | GPU weights | host weights | RSS after load | load s "
          "| prompt t/s Rust | prompt t/s C | decode t/s Rust | decode t/s C | TTFT ms Rust | Rust/C prompt | Rust/C decode |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for path in paths:
        model = path.rsplit("/", 1)[-1].removeprefix("bench-").removesuffix(".json")
        for r in json.load(open(path)):
            c = r["config"]
            gpu_used = sum(used for name, used in r["device_used_bytes"] if name != "CPU")
            gpu_w = sum(b["weights"] for b in r["buffers"] if b["device"] != "CPU")
            host_w = sum(b["weights"] for b in r["buffers"] if b["device"] == "CPU")
            extra = []
            if c["cpu_moe"]:
                extra.append("--cpu-moe" if c["cpu_moe"] == "all" else f"--n-cpu-moe {c['cpu_moe']}")
            extra.append("mmap" if c["mmap"] else "read")
            extra.append(f"{c['threads']} thr, ub {c['ubatch']}, p {c['prompt']}")
            if not c["op_offload"]:
                extra.append("no op offload")
            rust, cl = r["rust"], r.get("c") or {}
            ratio = lambda v: "n/a" if v is None else f"{v:.3f}"
            print(f"| {model} | {c['name']}: {', '.join(extra)} | {gpu_used / GIB:.2f} GiB | {gpu_w / GIB:.2f} GiB "
                  f"| {host_w / GIB:.2f} GiB | {r['rss_after_load'] / GIB:.2f} GiB | {r['load_seconds']:.1f} "
                  f"| {cell(rust['prompt_tps_summary'])} | {cell(cl.get('prompt_tps_summary'))} "
                  f"| {cell(rust['decode_tps_summary'])} | {cell(cl.get('decode_tps_summary'))} "
                  f"| {cell(rust['ttft_ms_summary'])} | {ratio(r['rust_over_c_prompt'])} | {ratio(r['rust_over_c_decode'])} |")


if __name__ == "__main__":
    main(sys.argv[1:])
