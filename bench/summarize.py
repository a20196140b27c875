#!/usr/bin/env python3
"""Medians and ratios for bench/run_fs_bench.sh (one TSV row per run).

summarize.py RESULTS RSS [RATIOS]: prints the tables; with RATIOS also writes
each target's median as a ratio to raw, one row per workload (the data of
bench/plot_ratios.gp's chart)."""
import collections
import statistics
import sys

results, rss = sys.argv[1], sys.argv[2]
ratios_out = sys.argv[3] if len(sys.argv) > 3 else None
rate = collections.defaultdict(list)   # (workload, target) -> ops/s
mbps = collections.defaultdict(list)
cpu = collections.defaultdict(float)   # daemon CPU seconds, summed
mb = collections.defaultdict(float)    # MB moved, summed
for line in open(results):
    t, label, m, r, c, moved = line.rstrip("\n").split("\t")
    rate[(label, t)].append(float(r))
    mbps[(label, t)].append(float(m))
    cpu[(label, t)] += float(c)
    mb[(label, t)] += float(moved)

present = list(dict.fromkeys(k[1] for k in rate))
baseline = next((t for t in present if t.startswith("recvault@")), None)  # RECVAULT_BENCH_BASELINE
targets = [t for t in ("raw", "recvault", baseline, "recvault-names", "gocryptfs", "securefs") if t in present]
labels = list(dict.fromkeys(k[0] for k in rate))
unit = {"seq_write": "MB/s", "seq_read": "MB/s", "random_read": "reads/s", "recorders_64": "frames/s",
        "recorders_256": "frames/s", "small_files": "files/s", "small_files_read": "files/s",
        "listing": "entries/s"}

def med(d, key):
    return statistics.median(d[key]) if d.get(key) else float("nan")

head = "| workload | unit | " + " | ".join(targets) + " | recvault/raw |"
if baseline:
    head += f" recvault/{baseline} |"
if "recvault-names" in targets:
    head += " names/recvault |"
others = [t for t in ("gocryptfs", "securefs") if t in targets]
for t in others:
    head += f" recvault/{t} |"
head += " CPU s/GB recvault |" + "".join(f" CPU s/GB {t} |" for t in others)
print(head)
print("|" + "---|" * (head.count("|") - 1))
chart = []
for label in labels:
    vals = {t: med(rate if unit.get(label, "").endswith("/s") and "MB" not in unit[label] else mbps, (label, t))
            for t in targets}
    row = f"| {label} | {unit.get(label, '')} | " + " | ".join(f"{vals[t]:,.0f}" for t in targets)
    row += f" | {vals['recvault'] / vals['raw']:.2f} |"
    if baseline:
        row += f" {vals['recvault'] / vals[baseline]:.2f} |"
    if "recvault-names" in targets:
        row += f" {vals['recvault-names'] / vals['recvault']:.2f} |"
    per_gb = {t: cpu[(label, t)] / (mb[(label, t)] / 1000) if mb[(label, t)] else float("nan")
              for t in ["recvault"] + others}
    row += "".join(f" {vals['recvault'] / vals[t]:.2f} |" for t in others)
    row += "".join(f" {per_gb[t]:.1f} |" for t in ["recvault"] + others)
    print(row)
    chart.append([label] + [f"{vals[t] / vals['raw']:.3f}" for t in targets if t != "raw"])

if ratios_out:
    with open(ratios_out, "w") as f:
        f.write("workload\t" + "\t".join(t for t in targets if t != "raw") + "\n")
        for r in chart:
            f.write("\t".join(r) + "\n")

# The spread behind each median: on a shared or virtualised machine single
# runs of one workload on one target can differ by 2x.
print()
print("| workload | " + " | ".join(f"{t} min-max" for t in targets) + " |")
print("|---|" + "---|" * len(targets))
for label in labels:
    d = rate if unit.get(label, "").endswith("/s") and "MB" not in unit[label] else mbps
    cells = [f"{min(d[(label, t)]):,.0f}-{max(d[(label, t)]):,.0f}" if d.get((label, t)) else "" for t in targets]
    print(f"| {label} | " + " | ".join(cells) + " |")

print()
for line in open(rss):
    t, field, kib = line.split()
    print(f"{t}: {field} {int(kib) / 1024:.1f} MiB with many recordings open")
