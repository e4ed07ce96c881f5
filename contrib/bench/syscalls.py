#!/usr/bin/python3
# Syscalls per handshake and per relayed message, wsgate next to HAProxy
# (jwt_verify), counted with `strace -f -c` attached to the proxy. Same
# shapes and configurations as compare.py (whose config writers, process
# handling and wsgate-bench driver this reuses): the proxy on core 0 with
# one worker/thread, wsgate-bench and its echo backend on core 1.
#
#   (a) N RS256 connect-upgrade-close handshakes (2000, 50 in flight,
#       16 source addresses), never-seen tokens: calls / handshakes.
#   (b) S sessions x M round trips of 32 bytes (200 x 100). The run is
#       made twice against the same process, once with M round trips per
#       session and once with none; the difference, divided by the
#       messages relayed (S x M in each direction, 2 S M in all), is the
#       cost per message and direction, without the handshakes.
#
# Every number printed comes from the run. strace slows the proxy down a
# lot; the counts, not the rates, are the point.
#   contrib/bench/syscalls.py [--handshakes 2000] [--sessions 200] [--round-trips 100]
#                             [--only wsgate,haproxy] [--build DIR]

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (the sibling script: configs, processes, wsgate-bench)

KINDS = ["wsgate", "haproxy"]


def parse_args():
    ap = argparse.ArgumentParser(prog="contrib/bench/syscalls.py",
                                 description="strace -c syscalls per handshake and per message, "
                                             "wsgate next to HAProxy")
    ap.add_argument("--handshakes", type=int, default=2000)
    ap.add_argument("--sessions", type=int, default=200)
    ap.add_argument("--round-trips", type=int, default=100)
    ap.add_argument("--only", help="comma-separated subset of " + ",".join(KINDS))
    ap.add_argument("--build", help="build tree with src/wsgate and tools/")
    ap.add_argument("--haproxy", default=shutil.which("haproxy") or "/usr/sbin/haproxy")
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    a = ap.parse_args()
    a.kinds = KINDS if not a.only else [k for k in a.only.split(",") if k]
    for k in a.kinds:
        if k not in KINDS:
            ap.error("unknown target %s" % k)
    if not 10 <= a.handshakes <= 100000 or not 1 <= a.sessions <= 5000 \
            or not 1 <= a.round_trips <= 100000:
        ap.error("--handshakes 10..100000, --sessions 1..5000, --round-trips 1..100000")
    return a


SUMMARY = re.compile(r"^\s*([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+)\s+(?:(\d+)\s+)?(\w+)\s*$")


def parse_summary(path):
    """strace -c's table: {syscall: (calls, errors)}."""
    out = {}
    with open(path) as f:
        for ln in f:
            m = SUMMARY.match(ln)
            if m and m.group(6) != "total":
                out[m.group(6)] = (int(m.group(4)), int(m.group(5) or 0))
    return out


class Tracer:
    """strace -f -c attached to a running process (all its threads)."""

    def __init__(self, pid, path):
        self.path = path
        self.err = open(path + ".err", "w+")
        self.p = subprocess.Popen(["strace", "-f", "-c", "-o", path, "-p", str(pid)],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=self.err)

        def attached():
            self.err.seek(0)
            return self.p.poll() is not None or "attached" in self.err.read()
        if not compare.wait_for(attached, 10) or self.p.poll() is not None:
            self.err.seek(0)
            raise compare.BenchError("strace did not attach: %s" % self.err.read()[-500:])

    def stop(self):
        self.p.send_signal(signal.SIGINT)
        try:
            self.p.wait(30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(5)
            raise compare.BenchError("strace did not stop")
        return parse_summary(self.path)


def traced(run, proxy, port, args, path):
    t = Tracer(proxy.pid, path)
    try:
        res = run.bench(port, args, timeout=600)
    finally:
        counts = t.stop()
    if res["errors_total"] or res.get("unfinished", 0):
        raise compare.BenchError("errors in the run %s: %r" % (" ".join(args), res["errors"]))
    return counts, res


def one_kind(run, kind, rd, a, tmp):
    echo, be = run.start_echo()
    proxy, port = run.start_proxy(kind, be)
    try:
        run.sanity(kind, port, rd["sanity"], rd["bad"])
        hs, r = traced(run, proxy, port,
                       ["-m", "handshake", "-c", "50", "-n", str(a.handshakes), "--sources", "16",
                        "-d", "300", "-t", rd["rs"]],
                       os.path.join(tmp, kind + "-hs.strace"))
        nhs = r["handshakes_ok"]
        base = ["-m", "handshake", "-c", str(a.sessions), "-n", str(a.sessions), "--sources", "16",
                "-d", "300", "-s", "32", "-t", rd["rs"]]
        with_msgs, r = traced(run, proxy, port, base + ["--messages", str(a.round_trips)],
                              os.path.join(tmp, kind + "-msgs.strace"))
        nmsg = r["messages"]
        without, _ = traced(run, proxy, port, base, os.path.join(tmp, kind + "-nomsgs.strace"))
    finally:
        run.procs.stop(proxy)
        run.procs.stop(echo)
    per_hs = {k: (c / nhs, e / nhs) for k, (c, e) in hs.items()}
    per_msg = {}
    for k in set(with_msgs) | set(without):
        c1, e1 = with_msgs.get(k, (0, 0))
        c0, e0 = without.get(k, (0, 0))
        per_msg[k] = ((c1 - c0) / (2 * nmsg), (e1 - e0) / (2 * nmsg))
    return {"hs": per_hs, "nhs": nhs, "msg": per_msg, "nmsg": nmsg}


def cell(v):
    c, e = v
    if abs(c) < 0.005 and abs(e) < 0.005:
        return "–"
    return "%.2f" % c + (" (%.2f fail)" % e if e >= 0.005 else "")


def print_table(title, kinds, results, key):
    names = set()
    for k in kinds:
        names |= set(results[k][key])
    tot = {k: (sum(c for c, _ in results[k][key].values()),
               sum(e for _, e in results[k][key].values())) for k in kinds}
    rows = sorted(names, key=lambda n: -max(results[k][key].get(n, (0, 0))[0] for k in kinds))
    print("| %s | %s |" % (title, " | ".join(compare.LABEL[k] for k in kinds)))
    print("|---" * (len(kinds) + 1) + "|")
    print("| **all syscalls** | %s |" % " | ".join("**%s**" % cell(tot[k]) for k in kinds))
    for n in rows:
        vals = [results[k][key].get(n, (0, 0)) for k in kinds]
        if all(abs(c) < 0.005 for c, _ in vals):
            continue
        print("| %s | %s |" % (n, " | ".join(cell(v) for v in vals)))
    print()


def main():
    a = parse_args()
    if not shutil.which("strace"):
        raise compare.BenchError("strace not found (apt-get install strace)")
    build = compare.find_build(a)
    load0 = compare.loadavg()
    t0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="wsgate-syscalls-")
    procs = compare.Procs(tmp)
    results = {}
    try:
        run = compare.Runner(a, build, procs)
        rd = {k: os.path.join(tmp, k + ".tokens") for k in ("rs", "sanity", "bad")}
        run.mint(rd["rs"], "RS256", "rsa.key", max(a.handshakes, a.sessions))
        run.mint(rd["sanity"], "RS256", "rsa.key", 2)
        run.mint(rd["bad"], "RS256", "rsa2.key", 2)
        for k in a.kinds:
            compare.log("%s: tracing" % k)
            results[k] = one_kind(run, k, rd, a, tmp)
    finally:
        procs.stop_all()
        if os.environ.get("WSBENCH_KEEP_TMP"):
            compare.log("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print_table("syscalls per RS256 handshake (%s)" % ", ".join(
        "%s %d" % (k, results[k]["nhs"]) for k in a.kinds), a.kinds, results, "hs")
    print_table("syscalls per message and direction, %d sessions x %d x 32 B (%s)" % (
        a.sessions, a.round_trips, ", ".join("%s %d round trips" % (k, results[k]["nmsg"])
                                             for k in a.kinds)), a.kinds, results, "msg")
    print("Machine: %s. Load average %s at the start, %s at the end; %.0f s in all." % (
        compare.machine_line(), load0, compare.loadavg(), time.monotonic() - t0))
    print("Command: `contrib/bench/syscalls.py%s` (wsgate %s)." % (
        "".join(" " + x for x in sys.argv[1:]), compare.git_rev()))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except compare.BenchError as e:
        sys.stderr.write("syscalls: %s\n" % e)
        sys.exit(1)
