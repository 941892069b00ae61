"""NLP throughput: mails/s and per-stage ms on 1,000 mails, cold start, RSS.

    .venv/bin/python benchmarks/nlp.py [--mails 1000]

The mails are the labelled set (nlp/tests/data, 88 mails) cycled, each copy given a different
ticket line so no two texts are equal. Plain Python: no database, no Redis.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COLD = """
import json, resource, sys, time
t0 = time.perf_counter()
from nlp.service import analyze
t1 = time.perf_counter()
analyze(sys.argv[1])
t2 = time.perf_counter()
analyze(sys.argv[1] + " Повторно.")
t3 = time.perf_counter()
from nlp.loaders import LOADS
print(json.dumps({"import_ms": (t1 - t0) * 1000, "first_ms": (t2 - t1) * 1000, "second_ms": (t3 - t2) * 1000,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "loads": dict(LOADS)}))
"""


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mails", type=int, default=1000)
    args = parser.parse_args()

    from nlp.tests.labelled import load

    base = [m.text for m in load("dev") + load("holdout")]
    mails = [f"{base[i % len(base)]}\n\nЗаявка {i}." for i in range(args.mails)]

    cold = json.loads(subprocess.run([sys.executable, "-c", COLD, base[0]], cwd=ROOT, capture_output=True,
                                     text=True, check=True).stdout)

    from nlp import loaders
    from nlp.service import analyze

    warm = loaders.warm_up()
    analyze(base[0])
    loads_before = dict(loaders.LOADS)
    totals, stages = [], {}
    started = time.perf_counter()
    for text in mails:
        t = time.perf_counter()
        result = analyze(text)
        totals.append((time.perf_counter() - t) * 1000)
        for stage, ms in result.timings_ms.items():
            stages.setdefault(stage, []).append(ms)
    elapsed = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"mails: {len(mails)}, sentiment backend: {loaders.get_sentiment_backend().name}")
    print(f"cold start (fresh process): import {cold['import_ms']:.0f} ms, first mail {cold['first_ms']:.0f} ms "
          f"(loads models), second mail {cold['second_ms']:.1f} ms, RSS {cold['rss_mb']:.0f} MB, loads {cold['loads']}")
    print(f"warm_up() in this process: {warm['ms']:.0f} ms")
    print(f"throughput: {len(mails) / elapsed:.1f} mails/s; per mail median {statistics.median(totals):.1f} ms, "
          f"p95 {pct(totals, 0.95):.1f} ms, max {max(totals):.1f} ms")
    print("per stage (median / p95 ms): " + ", ".join(
        f"{s} {statistics.median(v):.2f}/{pct(v, 0.95):.2f}" for s, v in stages.items() if s != "total"))
    print(f"peak RSS: {rss:.0f} MB")
    print(f"models reloaded during the run: {dict(loaders.LOADS) != loads_before}")


if __name__ == "__main__":
    main()
