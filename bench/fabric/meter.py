#!/usr/bin/env python3
"""meter.py: high-rate meters for the fabric benchmark (used by run.sh).

  meter.py ctl SOCKET rails|transfers        one control-API reply as JSON
  meter.py run --rx-pid PID --seconds D [--hz 1000] [--fault-at T --fault CMD]
               [--ctl SOCKET --ctl-hz 200] --rate-bps R --rails N
               --mode squeeze|down|none [--squeeze 0.1] [--chunk 1440]
               [--cpu-pids PID...] [--out FILE]
  meter.py cpu PID... --seconds D            CPU % of processes over D seconds
  meter.py mark --ctl SOCKET --pid-file FILE [--pids PID...] [--timeout S]
                                             CPU seconds when the first transfer starts

`run` samples the kernel byte counters of every rail interface (r0, r1, ...)
of the namespace that process --rx-pid lives in (/proc/PID/net/dev, the
receiver's side), at --hz. It measures every contender with the same meter:
bytes that reached the receiver, whatever protocol carried them (Ethernet
frames as the veth counts them, i.e. what tbf's rate is charged for). At
--fault-at seconds it runs --fault (a shell command) without pausing the
sampling. With --ctl (a railyardd control socket, the sender's) it also
samples the daemon's per-rail counters and its completed transfers at
--ctl-hz over one persistent connection. It prints one JSON line of results
and, with --out, writes every sample there (JSON). With --cpu-pids it also
gives the user + system CPU-seconds of those processes over the run
(/proc/PID/stat at its start and end), and with --ctl the bytes of the
transfers the sender completed meanwhile.

`mark` takes the CPU-seconds of a workload's processes at the moment its
transfers start, so that its set-up (connecting, registering and filling its
region) is left out of its CPU per byte: it prints {"ready":true} once it is
connected to the sender's daemon (--ctl), then polls the daemon's transfers
(~1 kHz) until one is in flight or has ended, and at once reads the CPU-seconds
of the process whose pid is in --pid-file (written by bench/dpdk/cputime.py
run) and of --pids, in that order. It prints {"ok":true,"pid_file_cpu":S,
"cpu":[S,...]}, or {"ok":false,"why":...} if the process exited first or
--timeout passed.

The control API is spoken directly (length-prefixed protobuf, see
proto/railyard/v1/control.proto) with the few fields needed, so sampling
costs no process start and no protobuf package.
"""

import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import time

# ---------------------------------------------------------------- protobuf


def _varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def pb_fields(buf):
    """Field number -> list of raw values (int for varints, bytes otherwise)."""
    out, i = {}, 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _varint(buf, i)
        elif wire == 1:
            v, i = buf[i:i + 8], i + 8
        elif wire == 2:
            n, i = _varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wire == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wire}")
        out.setdefault(field, []).append(v)
    return out


def _u(f, n):
    return f.get(n, [0])[-1]


def _s(f, n):
    return f.get(n, [b""])[-1].decode()


def _d(f, n):
    v = f.get(n)
    return struct.unpack("<d", v[-1])[0] if v else 0.0


class Control:
    """One persistent connection to a railyardd control socket."""

    REQUEST = {"rails": 11, "transfers": 13}

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)

    def _call(self, body_field):
        # Request{protocol_version = 1, <body_field> = {}}
        body = bytes([0x08, 0x01, (body_field << 3) | 2, 0x00])
        self.sock.sendall(struct.pack(">I", len(body)) + body)
        n = struct.unpack(">I", self._read(4))[0]
        resp = pb_fields(self._read(n))
        if _u(resp, 3) != 1:
            raise RuntimeError(f"control: status {_u(resp, 3)}: {_s(resp, 4)}")
        return pb_fields(resp.get(body_field, [b""])[-1])

    def _read(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise RuntimeError("control: connection closed")
            data += chunk
        return data

    def rails(self):
        out = []
        for raw in self._call(11).get(1, []):
            f = pb_fields(raw)
            out.append({"name": _s(f, 1), "state": _s(f, 3), "link": _s(f, 6),
                        "tx_goodput_bps": _d(f, 9), "rtt_us": _d(f, 11), "window_bytes": _u(f, 12),
                        "retransmits": _u(f, 14), "tx_packets": _u(f, 15), "tx_bytes": _u(f, 16),
                        "rx_packets": _u(f, 17), "rx_bytes": _u(f, 18), "down_events": _u(f, 21)})
        return out

    def transfers(self):
        f = self._call(13)
        return {"in_flight": len(f.get(1, [])), "completed_out": _u(f, 2), "failed_out": _u(f, 3),
                "completed_in": _u(f, 4), "bytes_out": _u(f, 5), "bytes_in": _u(f, 6)}


# ---------------------------------------------------------------- netdev


class NetDev:
    """Rail interfaces' counters of the namespace process PID lives in."""

    def __init__(self, pid):
        self.fd = os.open(f"/proc/{pid}/net/dev", os.O_RDONLY)

    def read(self):
        os.lseek(self.fd, 0, os.SEEK_SET)
        data = b""
        while True:
            chunk = os.read(self.fd, 65536)
            if not chunk:
                break
            data += chunk
        rails = {}
        for line in data.decode().splitlines()[2:]:
            name, _, rest = line.partition(":")
            name = name.strip()
            if not (name.startswith("r") and name[1:].isdigit()):
                continue
            v = rest.split()
            rails[name] = (int(v[0]), int(v[1]), int(v[8]), int(v[9]))  # rx bytes, rx pkts, tx bytes, tx pkts
        return rails


# ---------------------------------------------------------------- analysis


def interp(ts, bs, t):
    """Counter value at time t, linear between samples."""
    lo, hi = 0, len(ts) - 1
    if t <= ts[0]:
        return bs[0]
    if t >= ts[hi]:
        return bs[hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ts[mid] <= t:
            lo = mid
        else:
            hi = mid
    f = (t - ts[lo]) / (ts[hi] - ts[lo])
    return bs[lo] + f * (bs[hi] - bs[lo])


def rate(ts, bs, a, b):
    """Bits per second between times a and b."""
    return (interp(ts, bs, b) - interp(ts, bs, a)) * 8 / (b - a) if b > a else 0.0


def longest_low_run(ts, bs, a, b, threshold_bps):
    """Longest interval between two samples within [a, b] over which the average
    rate stays below threshold_bps (a trickle of retransmissions does not end
    a stall); returns (seconds, start). With g = bytes - threshold * t, that is
    the widest i < j with g[j] < g[i]: a maximum-width ramp, O(n)."""
    idx = [k for k in range(len(ts)) if a <= ts[k] <= b]
    if len(idx) < 2:
        return 0.0, None
    thr = threshold_bps / 8
    h = [thr * ts[k] - bs[k] for k in idx]   # h[i] < h[j] <=> low average between i and j
    n = len(h)
    premin = h[:]
    for k in range(1, n):
        premin[k] = min(premin[k - 1], h[k])
    sufmax = h[:]
    for k in range(n - 2, -1, -1):
        sufmax[k] = max(sufmax[k + 1], h[k])
    best, best_start, i, j = 0.0, None, 0, 0
    while i < n and j < n:
        if premin[i] < sufmax[j]:
            if j > i and ts[idx[j]] - ts[idx[i]] > best:
                best, best_start = ts[idx[j]] - ts[idx[i]], ts[idx[i]]
            j += 1
        else:
            i += 1
            j = max(j, i)
    return best, best_start


def analyse(args, ts, bs, t0, ctl, per_rail):
    cap_before = args.rails * args.rate_bps
    if args.mode == "squeeze":
        cap_after = (args.rails - 1) * args.rate_bps + args.squeeze * args.rate_bps
    elif args.mode == "down":
        cap_after = (args.rails - 1) * args.rate_bps
    else:
        cap_after = cap_before
    end = ts[-1]
    res = {"samples": len(ts), "seconds": round(end - ts[0], 3),
           "sample_interval_ms_p50": round(1e3 * sorted(ts[k] - ts[k - 1] for k in range(1, len(ts)))[len(ts) // 2], 3),
           "sample_interval_ms_max": round(1e3 * max(ts[k] - ts[k - 1] for k in range(1, len(ts))), 3),
           "capacity_before_bps": cap_before, "capacity_after_bps": cap_after}
    if t0 is None:
        res["utilisation"] = rate(ts, bs, ts[0] + 0.3, end) / cap_before
        return res
    w = args.window
    res["fault_at_s"] = round(t0 - ts[0], 3)
    res["utilisation_before"] = rate(ts, bs, max(ts[0], t0 - 1.0), t0) / cap_before
    steady_from = max(t0 + 0.5, end - args.steady)
    res["utilisation_after_steady"] = rate(ts, bs, steady_from, end) / cap_after
    res["steady_window_s"] = [round(steady_from - t0, 3), round(end - t0, 3)]
    # The kernel counts an skb's bytes (a GSO/TSO skb carries one set of
    # headers for many frames), so absolute utilisation depends on the
    # protocol's framing. "Reached" normalises by the contender's own level
    # before the fault: 1.0 means the remaining capacity is as full as the
    # whole was before.
    before_rate = rate(ts, bs, max(ts[0], t0 - 1.0), t0)
    ref = before_rate * cap_after / cap_before
    res["reached_steady"] = rate(ts, bs, steady_from, end) / ref if ref else None
    res["before_bps"] = before_rate
    res["rails_rate_before_bps"] = {n: rate(ts, s, max(ts[0], t0 - 1.0), t0) for n, s in per_rail.items()}
    res["rails_rate_steady_bps"] = {n: rate(ts, s, steady_from, end) for n, s in per_rail.items()}
    # W-second windows ending at each sample time after the fault.
    win = [(t, rate(ts, bs, t - w, t) / ref if ref else 0.0) for t in ts if t0 < t <= end]
    res["worst_window_after"] = min(u for _, u in win) if win else None
    # Time to adapt: the first window end t after which every window over the
    # next `hold` seconds reaches `target` of the remaining capacity.
    adapt = None
    for i, (t, _) in enumerate(win):
        if t + args.hold > end:
            break
        if all(u >= args.target for tt, u in win[i:] if tt <= t + args.hold):
            adapt = t - t0
            break
    res["adapt_s"] = adapt
    # Stalls: the longest interval whose average is below 10 % of the remaining capacity.
    stall, stall_at = longest_low_run(ts, bs, t0 - 0.05, min(end, t0 + 2.0), 0.1 * cap_after)
    res["stall_s"] = stall
    res["stall_start_after_fault_s"] = None if stall_at is None else round(stall_at - t0, 4)
    # The same, only around the fault itself (the failover: 50 ms before to 100 ms after).
    res["stall_at_fault_s"], _ = longest_low_run(ts, bs, t0 - 0.05, min(end, t0 + 0.1), 0.1 * cap_after)
    base, _ = longest_low_run(ts, bs, ts[0] + 0.3, t0 - 0.05, 0.1 * cap_before)
    res["baseline_stall_s"] = base
    res["target"] = args.target
    if ctl:
        # Completions of the sender's daemon: longest time without one, around the
        # fault and before it (the baseline, set by transfer size and rate).
        ct = [c["t"] for c in ctl]
        cc = [c["transfers"]["completed_out"] + c["transfers"]["failed_out"] for c in ctl]

        def longest_no_completion(a, b):
            best, last = 0.0, None
            for t, n, prev in zip(ct[1:], cc[1:], cc[:-1]):
                if t < a or t > b:
                    continue
                if last is None:
                    last = t
                if n != prev:
                    best = max(best, t - last)
                    last = t
            return best

        res["load_running_at_end"] = ctl[-1]["transfers"]["in_flight"] > 0
        res["completion_gap_around_fault_s"] = longest_no_completion(t0 - 0.2, min(end, t0 + 1.0))
        res["completion_gap_before_s"] = longest_no_completion(ts[0] + 0.3, t0 - 0.2)
        first, last = ctl[0]["rails"], ctl[-1]["rails"]
        res["rails_sender"] = [
            {"name": b["name"], "state": b["state"], "tx_packets": b["tx_packets"] - a["tx_packets"],
             "retransmits": b["retransmits"] - a["retransmits"], "down_events": b["down_events"] - a["down_events"]}
            for a, b in zip(first, last)]
        # Share of the sender's packets that went to the faulted rail (r1) after the
        # fault, against its share of the remaining capacity.
        after = [c for c in ctl if c["t"] >= steady_from]
        if len(after) >= 2:
            # Unique data packets the sender put on the rails (sent minus those
            # that had to be resent) times the chunk size: the railyard
            # goodput after the fault, at packet rather than transfer grain.
            a, b = after[0], after[-1]
            uniq = sum((y["tx_packets"] - x["tx_packets"]) - (y["retransmits"] - x["retransmits"])
                       for x, y in zip(a["rails"], b["rails"]))
            res["goodput_steady_bps"] = uniq * args.chunk * 8 / (b["t"] - a["t"])
            res["goodput_steady_of_capacity"] = res["goodput_steady_bps"] / cap_after
        if len(after) >= 2 and len(after[0]["rails"]) > 1:
            pk = [b["tx_packets"] - a["tx_packets"] for a, b in zip(after[0]["rails"], after[-1]["rails"])]
            res["r1_share_steady"] = pk[1] / sum(pk) if sum(pk) else None
            res["r1_fair_share"] = (args.rate_bps * (args.squeeze if args.mode == "squeeze" else 0)) / cap_after
    return res


# ---------------------------------------------------------------- commands


def cmd_run(args):
    dev = NetDev(args.rx_pid)
    ctl = Control(args.ctl) if args.ctl else None
    period = 1.0 / args.hz
    ctl_period = 1.0 / args.ctl_hz
    samples, ctl_samples = [], []
    start = time.monotonic()
    next_ctl = start
    fault, t0, t0_done = None, None, None
    dropped = 0
    cpu_start = [cpu_seconds(p) for p in args.cpu_pids]
    while True:
        now = time.monotonic()
        if now - start >= args.seconds:
            break
        before = time.monotonic()
        rails = dev.read()
        t = time.monotonic()
        # A read that was preempted has no trustworthy time: drop it (on a busy
        # 2-core machine this happens; a late stamp would fake a dip and a peak).
        if t - before < args.max_read_s or not samples:
            samples.append(((before + t) / 2, rails))
        else:
            dropped += 1
        if ctl and t >= next_ctl:
            ctl_samples.append({"t": time.monotonic(), "rails": ctl.rails(), "transfers": ctl.transfers()})
            next_ctl += ctl_period
        if args.fault and fault is None and t - start >= args.fault_at:
            t0 = time.monotonic()
            fault = subprocess.Popen(args.fault, shell=True)
        if fault is not None and t0_done is None and fault.poll() is not None:
            t0_done = time.monotonic()
        sleep = period - (time.monotonic() - t)
        if sleep > 0:
            time.sleep(sleep)
    cpu_end = [cpu_seconds(p) for p in args.cpu_pids]
    if fault is not None:
        fault.wait()
        if t0_done is None:
            t0_done = time.monotonic()
    ts = [t for t, _ in samples]
    names = sorted(samples[0][1])
    bs = [sum(r[n][0] for n in names) for _, r in samples]
    per_rail = {n: [r[n][0] for _, r in samples] for n in names}
    res = analyse(args, ts, bs, t0, ctl_samples, per_rail)
    if t0 is not None:
        res["fault_command_ms"] = round((t0_done - t0) * 1e3, 2)
        res["fault_exit"] = fault.returncode
    per_rail = {}
    for n in names:
        rb = [r[n][0] for _, r in samples]
        per_rail[n] = {"bytes": rb[-1] - rb[0], "frames": samples[-1][1][n][1] - samples[0][1][n][1]}
    res["rx_per_rail"] = per_rail
    res["samples_dropped"] = dropped
    if args.cpu_pids:
        # CPU of the given processes over the whole run (start to end of sampling).
        res["cpu_s"] = round(sum(b - a for a, b in zip(cpu_start, cpu_end)), 3)
    if len(ctl_samples) >= 2:
        # Bytes of the transfers the sender completed over the control samples.
        res["ctl_window_s"] = round(ctl_samples[-1]["t"] - ctl_samples[0]["t"], 3)
        res["bytes_out_window"] = ctl_samples[-1]["transfers"]["bytes_out"] - ctl_samples[0]["transfers"]["bytes_out"]
    print(json.dumps(res))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"t0": t0, "t": ts, "rx_bytes": {n: [r[n][0] for _, r in samples] for n in names},
                       "ctl": ctl_samples, "result": res}, f)
    return 0


def cmd_ctl(args):
    c = Control(args.socket)
    print(json.dumps(c.rails() if args.what == "rails" else c.transfers()))
    return 0


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        v = f.read().rpartition(")")[2].split()
    return int(v[11]) + int(v[12])  # utime + stime, every thread of the process


def cpu_seconds(pid):
    return cpu_ticks(pid) / os.sysconf("SC_CLK_TCK")


def cmd_cpu(args):
    hz = os.sysconf("SC_CLK_TCK")
    a = [cpu_ticks(p) for p in args.pids]
    t = time.monotonic()
    time.sleep(args.seconds)
    b = [cpu_ticks(p) for p in args.pids]
    dt = time.monotonic() - t
    print(json.dumps({str(p): round(100.0 * (y - x) / hz / dt, 1) for p, x, y in zip(args.pids, a, b)}))
    return 0


def cmd_mark(args):
    ctl = Control(args.ctl)
    first = ctl.transfers()
    ended0 = first["completed_out"] + first["failed_out"]
    print(json.dumps({"ready": True}), flush=True)
    deadline = time.monotonic() + args.timeout
    pid = None
    while True:
        tr = ctl.transfers()
        if tr["in_flight"] > 0 or tr["completed_out"] + tr["failed_out"] != ended0:
            break
        if pid is None and os.path.exists(args.pid_file):
            with open(args.pid_file) as f:
                text = f.read().strip()
            pid = int(text) if text else None
        if pid is not None and not os.path.exists(f"/proc/{pid}"):
            print(json.dumps({"ok": False, "why": f"process {pid} exited before a transfer started"}))
            return 1
        if time.monotonic() > deadline:
            print(json.dumps({"ok": False, "why": f"no transfer started within {args.timeout} s"}))
            return 1
        time.sleep(args.interval)
    try:
        if pid is None:
            with open(args.pid_file) as f:
                pid = int(f.read().strip())
        first_cpu = cpu_seconds(pid)   # the workload first: it is the one still moving
        cpu = [cpu_seconds(p) for p in args.pids]
    except (OSError, ValueError) as e:
        print(json.dumps({"ok": False, "why": f"cannot read the CPU time: {e}"}))
        return 1
    print(json.dumps({"ok": True, "pid_file_cpu": first_cpu, "cpu": cpu, "in_flight": tr["in_flight"]}))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("ctl")
    c.add_argument("socket")
    c.add_argument("what", choices=["rails", "transfers"])
    r = sub.add_parser("run")
    r.add_argument("--rx-pid", type=int, required=True)
    r.add_argument("--seconds", type=float, required=True)
    r.add_argument("--hz", type=float, default=1000)
    r.add_argument("--fault-at", type=float, default=0)
    r.add_argument("--fault")
    r.add_argument("--ctl")
    r.add_argument("--ctl-hz", type=float, default=200)
    r.add_argument("--rate-bps", type=float, required=True, help="line rate of one rail")
    r.add_argument("--rails", type=int, required=True)
    r.add_argument("--mode", choices=["squeeze", "down", "none"], default="none")
    r.add_argument("--squeeze", type=float, default=0.1, help="squeezed rail's share of its rate")
    r.add_argument("--window", type=float, default=0.1, help="rate window for adaptation (s)")
    r.add_argument("--hold", type=float, default=0.5, help="how long the target must hold (s)")
    r.add_argument("--target", type=float, default=0.9)
    r.add_argument("--steady", type=float, default=1.5, help="steady-state window at the end (s)")
    r.add_argument("--max-read-s", type=float, default=0.0005, help="drop samples whose read took longer")
    r.add_argument("--chunk", type=int, default=1440,
                   help="railyard payload bytes per packet (MTU - IP 20 - UDP 8 - DATA header 32)")
    r.add_argument("--cpu-pids", type=int, nargs="*", default=[],
                   help="processes whose CPU-seconds over the run to report (cpu_s)")
    r.add_argument("--out")
    u = sub.add_parser("cpu")
    u.add_argument("pids", type=int, nargs="+")
    u.add_argument("--seconds", type=float, default=2)
    k = sub.add_parser("mark")
    k.add_argument("--ctl", required=True, help="the sending host's railyardd control socket")
    k.add_argument("--pid-file", required=True, help="file holding the workload's pid (cputime.py run OUT: OUT.pid)")
    k.add_argument("--pids", type=int, nargs="*", default=[], help="more processes to read at the same moment")
    k.add_argument("--timeout", type=float, default=60)
    k.add_argument("--interval", type=float, default=0.001)
    args = p.parse_args()
    return {"run": cmd_run, "ctl": cmd_ctl, "cpu": cmd_cpu, "mark": cmd_mark}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
