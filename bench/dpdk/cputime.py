#!/usr/bin/env python3
"""cputime.py: CPU time of processes, for bench/dpdk/p5.sh.

  cputime.py ticks PID...         utime + stime of each PID, in seconds, one line (JSON list)
  cputime.py run OUT CMD ARG...   runs CMD, writes its pid to OUT.pid at once and, when it
                                  exits, its own CPU seconds (user + system, from wait4) to OUT;
                                  exits with CMD's status

/proc/PID/stat's utime and stime are the whole process's (every thread, live
or gone), in clock ticks. wait4's rusage covers the child alone (it is exec'd
directly, so nothing else is counted).
"""

import json
import os
import sys


def ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        v = f.read().rpartition(")")[2].split()
    return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "ticks":
        print(json.dumps([ticks(int(p)) for p in sys.argv[2:]]))
        return 0
    if len(sys.argv) >= 4 and sys.argv[1] == "run":
        out, cmd = sys.argv[2], sys.argv[3:]
        pid = os.fork()
        if pid == 0:
            try:
                os.execvp(cmd[0], cmd)
            finally:
                os._exit(127)
        with open(out + ".pid", "w") as f:
            f.write(f"{pid}\n")
        _, status, usage = os.wait4(pid, 0)
        with open(out, "w") as f:
            f.write(f"{usage.ru_utime + usage.ru_stime:.4f}\n")
        return os.waitstatus_to_exitcode(status) & 0xFF
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
