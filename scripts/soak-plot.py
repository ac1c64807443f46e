#!/usr/bin/env python3
"""Plots a soak CSV (scripts/soak.sh): resident memory, open descriptors and threads over
time, with the request rate, into a small PNG.

Usage: soak-plot.py SOAK.CSV OUT.PNG

matplotlib is installed with pip (for this user) when it is missing.
"""
import csv
import subprocess
import sys


def matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        cmd = [sys.executable, "-m", "pip", "install", "--user", "--quiet", "matplotlib"]
        if subprocess.call(cmd) != 0:
            subprocess.check_call(cmd + ["--break-system-packages"])
        # The user site folder may not have existed when this interpreter started.
        import importlib
        import site

        site.addsitedir(site.getusersitepackages())
        importlib.invalidate_caches()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dst = sys.argv[1], sys.argv[2]
    with open(src) as f:
        rows = list(csv.DictReader(f))
    if len(rows) < 2:
        sys.exit(f"{src}: too few samples")
    minutes = [float(r["elapsed_s"]) / 60 for r in rows]
    rss = [int(r["rss_kib"]) / 1024 for r in rows]
    # Older CSVs lack the heap and tasks columns: their panels are left out.
    heap = [int(r["heap_kib"]) / 1024 for r in rows] if "heap_kib" in rows[0] else None
    fds = [int(r["fds"]) for r in rows]
    threads = [int(r["threads"]) for r in rows]
    tasks = [int(r["tasks"]) for r in rows] if "tasks" in rows[0] else None
    reqs = [int(r["http_requests"]) + int(r["dns_tcp_answered"]) for r in rows]
    rate = [0.0] + [
        (reqs[i] - reqs[i - 1]) / max(1e-9, (minutes[i] - minutes[i - 1]) * 60)
        for i in range(1, len(rows))
    ]
    failed = int(rows[-1]["http_failed"]) + int(rows[-1]["dns_tcp_lost"])
    reloads = int(rows[-1]["reloads"])

    plt = matplotlib()
    series = [
        (rss, "RSS (MiB)"),
        (heap, "live heap (MiB)"),
        (fds, "open fds"),
        (threads, "threads"),
        (tasks, "runtime tasks"),
        (rate, "HTTP+DNS/TCP req/s"),
    ]
    series = [(values, label) for values, label in series if values is not None]
    fig, axes = plt.subplots(len(series), 1, figsize=(7, 1.2 + 1.3 * len(series)), sharex=True)
    third = minutes[len(minutes) // 3]
    for ax, (values, label) in zip(axes, series):
        ax.plot(minutes, values, linewidth=1.2)
        ax.set_ylabel(label, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_ylim(bottom=0, top=max(values) * 1.25 + 1)
        ax.axvline(third, color="grey", linewidth=0.6, linestyle=":")
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("minutes", fontsize=8)
    fig.suptitle(
        f"switchyard soak: {minutes[-1]:.0f} min, {reloads} reloads with fleet churn, "
        f"{failed} failed requests",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(dst, dpi=80)
    print(f"soak plot: {dst}")


if __name__ == "__main__":
    main()
