#!/usr/bin/env python3
"""One row of the P8 table from a size's files (see run.sh).

argv: tokens kv_per_token step_ms migrations.jsonl verify.txt h1.tokens h2.tokens
Token-log lines: seq_id index token host unix_ns.
"""
import bisect
import json
import re
import sys


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(p / 100.0 * (len(values) - 1)))))
    return values[k]


def main():
    tokens, kv_per_token, step_ms = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    migrations = [json.loads(line) for line in open(sys.argv[4]) if line.strip()]
    verify = open(sys.argv[5]).read()
    ok = [m for m in migrations if m.get("state") == "done"]

    downtimes = [float(x) for x in re.findall(r"downtime (-?[0-9.]+) ms", verify.split("sequences ")[0])]
    summary = verify.strip().splitlines()[-1] if verify.strip() else "no verify output"
    check = "ok" if summary.endswith(": ok") else "FAILED: " + summary

    # Decode rate on the source while it pre-copied against the second before.
    stamps = {}
    for path in sys.argv[6:8]:
        for line in open(path):
            parts = line.split()
            if len(parts) != 5:
                continue
            stamps.setdefault(parts[3], []).append(int(parts[4]))
    for host in stamps:
        stamps[host].sort()

    def count(host, start_ns, end_ns):
        s = stamps.get(host, [])
        return bisect.bisect_left(s, end_ns) - bisect.bisect_left(s, start_ns)

    ratios = []
    for m in ok:
        start = int(m["started_unix_ms"]) * 1_000_000
        precopy_ns = (float(m["total_ms"]) - float(m["downtime_ms"])) * 1e6
        if precopy_ns < 200e6:
            continue  # too short to measure a rate
        source = [h for h in stamps if h != m["peer"]]
        if not source:
            continue
        during = count(source[0], start, start + int(precopy_ns)) / (precopy_ns / 1e9)
        before = count(source[0], start - 1_000_000_000, start) / 1.0
        if before > 0:
            ratios.append(during / before)
    rate = f"{100 * sum(ratios) / len(ratios):.1f} %" if ratios else "- (pre-copy < 200 ms)"

    paused = [float(m["downtime_ms"]) for m in ok]
    total = [float(m["total_ms"]) for m in ok]
    rounds = [int(m["rounds"]) for m in ok]
    kv = tokens * kv_per_token
    size = f"{kv / (1 << 20):.0f} MiB" if kv >= (1 << 20) else f"{kv >> 10} KiB"
    print(
        f"| {size} | {tokens} | {len(ok)}/{len(migrations)} | "
        f"{pct(downtimes, 50):.1f} / {pct(downtimes, 99):.1f} / {max(downtimes) if downtimes else float('nan'):.1f} | "
        f"{pct([d - step_ms for d in downtimes], 99):.1f} | {pct(paused, 99):.1f} | {pct(total, 50):.0f} | "
        f"{min(rounds) if rounds else 0}-{max(rounds) if rounds else 0} | {rate} | {check} |"
    )


if __name__ == "__main__":
    main()
