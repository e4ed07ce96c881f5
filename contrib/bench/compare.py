#!/usr/bin/python3
# Side-by-side comparison of wsgate with HAProxy (jwt_verify) and nginx (no
# auth), and the echo backend reached directly, with tools/wsgate-bench as
# the load generator and its --serve mode as the backend. Run through
# contrib/bench/compare.sh, which installs the peers first.
#
# Each proxy is pinned to core 0 with one worker/thread, the load
# generator and the echo backend to core 1. Every round mints fresh RS256
# and ES256 tokens and starts a fresh process per target (and another one
# for the idle-memory run). Proxy CPU comes from /proc/PID/stat (utime +
# stime of the proxy and its children) read around each run, memory from
# VmRSS in /proc/PID/status. The table holds medians over the rounds; every
# number in it (and in the file --write makes) comes from this run.

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
KEYS = os.path.join(TOP, "t", "keys")
ISS = "https://auth.test/"
AUD = "chat"
CLK_TCK = os.sysconf("SC_CLK_TCK")
TARGETS = ["direct", "haproxy", "nginx", "wsgate"]
LABEL = {"direct": "direct", "haproxy": "HAProxy jwt_verify", "nginx": "nginx (no auth)",
         "wsgate": "wsgate"}


class BenchError(Exception):
    pass


def log(msg):
    sys.stderr.write("# %s\n" % msg)
    sys.stderr.flush()


def parse_args():
    ap = argparse.ArgumentParser(
        prog="contrib/bench/compare.sh",
        description="Compare wsgate, HAProxy (jwt_verify) and nginx on handshakes, messages "
                    "and memory; print one markdown table of medians.")
    ap.add_argument("--rounds", type=int, default=3, help="rounds; the table shows medians (3)")
    ap.add_argument("--quick", action="store_true",
                    help="short runs and fewer tokens/sessions, one round unless --rounds: "
                         "a smoke test, not a measurement")
    ap.add_argument("--write", metavar="FILE",
                    help="also write FILE (BENCHMARKS.md) with the machine line and the command")
    ap.add_argument("--raw", metavar="FILE",
                    help="also save every run's wsgate-bench JSON and /proc figures to FILE")
    ap.add_argument("--only", help="comma-separated subset of " + ",".join(TARGETS))
    ap.add_argument("--build", help="build tree with src/wsgate and tools/ (default: the "
                                    "source tree if built in place, else build/)")
    ap.add_argument("--tokens", type=int, help="never-seen tokens per handshake run (9000)")
    ap.add_argument("--idle", type=int, help="idle sessions for the memory row (9000)")
    ap.add_argument("--seconds", type=float, help="length of each message run (5)")
    ap.add_argument("--haproxy", default=shutil.which("haproxy") or "/usr/sbin/haproxy")
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    a = ap.parse_args()
    if a.quick:
        a.tokens = a.tokens or 1000
        a.idle = a.idle or 500
        a.seconds = a.seconds or 1.0
        if "--rounds" not in sys.argv[1:] and not any(x.startswith("--rounds=")
                                                      for x in sys.argv[1:]):
            a.rounds = 1
    a.tokens = a.tokens or 9000
    a.idle = a.idle or 9000
    a.seconds = a.seconds or 5.0
    if not 1 <= a.rounds <= 9:
        ap.error("--rounds must be between 1 and 9")
    if not 100 <= a.tokens <= 200000 or not 10 <= a.idle <= 9500:
        ap.error("--tokens must be 100..200000 and --idle 10..9500")
    if not 0.2 <= a.seconds <= 60:
        ap.error("--seconds must be between 0.2 and 60")
    a.targets = TARGETS if not a.only else [t for t in a.only.split(",") if t]
    for t in a.targets:
        if t not in TARGETS:
            ap.error("unknown target %s" % t)
    return a


def find_build(a):
    for d in ([a.build] if a.build else [TOP, os.path.join(TOP, "build")]):
        d = os.path.abspath(d)
        if all(os.access(os.path.join(d, p), os.X_OK)
               for p in ("src/wsgate", "tools/wsgate-bench", "tools/jwtmint")):
            return d
    raise BenchError("no build with src/wsgate, tools/wsgate-bench and tools/jwtmint "
                     "(run make, or pass --build DIR)")


def free_port():
    # Below 32768, out of the ephemeral range (DESIGN.md), and not in use.
    for _ in range(200):
        p = 20000 + int.from_bytes(os.urandom(2), "big") % 12000
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
            return p
        except OSError:
            continue
        finally:
            s.close()
    raise BenchError("no free port")


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def wait_for(cond, timeout, interval=0.01):
    dl = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() >= dl:
            return v
        time.sleep(interval)

# ---------------------------------------------------------------- /proc


def tree(pid):
    """pid and all its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for tid in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, tid)) as f:
                    todo += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def cpu_seconds(pid):
    total = 0
    for p in tree(pid):
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])     # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / CLK_TCK


def core_busy():
    """Seconds from /proc/stat: [core 0 busy, core 1 busy, core 0 softirq];
    busy is everything but idle and iowait."""
    busy = [0.0, 0.0, 0.0]
    try:
        with open("/proc/stat") as f:
            for ln in f:
                for i in (0, 1):
                    if ln.startswith("cpu%d " % i):
                        v = [int(x) for x in ln.split()[1:]]
                        busy[i] = (sum(v[:8]) - v[3] - v[4]) / CLK_TCK
                        if i == 0:
                            busy[2] = v[6] / CLK_TCK
    except (OSError, ValueError, IndexError):
        pass
    return busy


def rss_kb(pid):
    total = 0
    for p in tree(pid):
        try:
            with open("/proc/%d/status" % p) as f:
                for ln in f:
                    if ln.startswith("VmRSS:"):
                        total += int(ln.split()[1])
        except (OSError, ValueError):
            pass
    return total

# ---------------------------------------------------------------- processes


class Procs:
    def __init__(self, tmp):
        self.tmp = tmp
        self.live = []

    def start(self, name, argv, core, cwd=None):
        logf = open(os.path.join(self.tmp, name + ".log"), "ab")
        p = subprocess.Popen(["taskset", "-c", str(core)] + argv, stdin=subprocess.DEVNULL,
                             stdout=logf, stderr=logf, cwd=cwd or self.tmp,
                             start_new_session=True)
        p.name = name
        self.live.append(p)
        return p

    def log(self, name):
        try:
            with open(os.path.join(self.tmp, name + ".log"), "rb") as f:
                return f.read().decode("utf-8", "replace")[-3000:]
        except OSError:
            return ""

    def stop(self, p):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except OSError:
                pass
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)
        if p in self.live:
            self.live.remove(p)

    def stop_all(self):
        for p in list(self.live):
            self.stop(p)

# ---------------------------------------------------------------- configurations


def wsgate_conf(port, be):
    return """\
listen 127.0.0.1:{port};
workers 1;
max_connections 10000;
handshake_timeout 10s;
upstream_connect_timeout 5s;
max_message_size 1m;
shutdown_timeout 1s;
access_log off;
error_log stderr warn;
jwt {{
    key_file {keys}/rsa.pub;
    key_file {keys}/ec256.pub;
    algorithms RS256 ES256;
    issuer "{iss}";
    audience {aud};
    leeway 5s;
    require_claims sub exp;
}}
route / {{
    upstream 127.0.0.1:{be};
    origins any;
    identity_header sub X-Auth-Sub;
}}
""".format(port=port, be=be, keys=KEYS, iss=ISS, aud=AUD)


def haproxy_conf(port, be):
    # jwt_verify checks the signature only: the other rules check what
    # wsgate also checks (alg allow-list, exp, iss, aud, sub present), and
    # the identity header is the one wsgate adds (as in relay-bench.py).
    return """\
global
    nbthread 1
    maxconn 9800
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    timeout http-request 10s
frontend fe
    bind 127.0.0.1:{port}
    http-request set-var(txn.bearer) req.hdr(authorization),word(2,' ')
    http-request set-var(txn.alg) var(txn.bearer),jwt_header_query('$.alg')
    http-request deny unless {{ var(txn.alg) -m str RS256 ES256 }}
    http-request deny if {{ var(txn.alg) -m str RS256 }} !{{ var(txn.bearer),jwt_verify("RS256","{keys}/rsa.pub") -m int 1 }}
    http-request deny if {{ var(txn.alg) -m str ES256 }} !{{ var(txn.bearer),jwt_verify("ES256","{keys}/ec256.pub") -m int 1 }}
    http-request deny unless {{ var(txn.bearer),jwt_payload_query('$.iss') -m str {iss} }}
    http-request deny unless {{ var(txn.bearer),jwt_payload_query('$.aud') -m str {aud} }}
    http-request set-var(txn.sub) var(txn.bearer),jwt_payload_query('$.sub')
    http-request deny unless {{ var(txn.sub) -m found }}
    http-request set-var(txn.now) date
    http-request set-var(txn.exp) var(txn.bearer),jwt_payload_query('$.exp','int')
    http-request deny if {{ var(txn.exp),sub(txn.now) -m int lt 0 }}
    http-request del-header X-Auth-Sub
    http-request set-header X-Auth-Sub %[var(txn.sub)]
    default_backend be
backend be
    server s1 127.0.0.1:{be}
""".format(port=port, be=be, keys=KEYS, iss=ISS, aud=AUD)


def nginx_conf(port, be, d):
    return """\
worker_processes 1;
worker_rlimit_nofile 20000;
error_log {d}/nginx-error.log warn;
pid {d}/nginx.pid;
events {{
    worker_connections 19500;
}}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            proxy_pass http://127.0.0.1:{be};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header Host $host;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
        }}
    }}
}}
""".format(port=port, be=be, d=d)

# ---------------------------------------------------------------- the runs


class Runner:
    def __init__(self, a, build, procs):
        self.a, self.build, self.procs = a, build, procs
        self.bench_bin = os.path.join(build, "tools", "wsgate-bench")
        self.mint_bin = os.path.join(build, "tools", "jwtmint")
        self.wsgate_bin = os.path.join(build, "src", "wsgate")
        self.n = 0

    def mint(self, path, alg, key, n, exp=900):
        claims = json.dumps({"iss": ISS, "aud": AUD, "sub": "bench"})
        with open(path, "w") as f:
            p = subprocess.run(["taskset", "-c", "1", self.mint_bin, "-a", alg, "-k",
                                os.path.join(KEYS, key), "-e", str(exp), "-n", str(n),
                                "-c", claims], stdout=f, stderr=subprocess.PIPE, text=True,
                               timeout=600)
        if p.returncode != 0:
            raise BenchError("jwtmint %s failed: %s" % (alg, p.stderr.strip()[:300]))

    def start_echo(self):
        port = free_port()
        self.n += 1
        p = self.procs.start("echo%d" % self.n, [self.bench_bin, "--serve", "127.0.0.1:%d" % port],
                             core=1)
        if not wait_for(lambda: p.poll() is not None or port_open(port), 5) or p.poll() is not None:
            raise BenchError("echo backend did not start: %s" % self.procs.log(p.name))
        return p, port

    def start_proxy(self, kind, be):
        """A fresh proxy process of kind on core 0; (process, port), or
        (None, be) for direct."""
        if kind == "direct":
            return None, be
        for _ in range(3):
            port = free_port()
            self.n += 1
            d = os.path.join(self.procs.tmp, "%s%d" % (kind, self.n))
            os.makedirs(d)
            if kind == "wsgate":
                cfg = os.path.join(d, "wsgate.conf")
                open(cfg, "w").write(wsgate_conf(port, be))
                argv = [self.wsgate_bin, "-c", cfg]
            elif kind == "haproxy":
                cfg = os.path.join(d, "haproxy.cfg")
                open(cfg, "w").write(haproxy_conf(port, be))
                argv = [self.a.haproxy, "-f", cfg, "-db"]
            else:
                cfg = os.path.join(d, "nginx.conf")
                open(cfg, "w").write(nginx_conf(port, be, d))
                argv = [self.a.nginx, "-c", cfg, "-p", d, "-g", "daemon off;"]
            name = os.path.basename(d)
            p = self.procs.start(name, argv, core=0, cwd=d)
            if wait_for(lambda: p.poll() is not None or port_open(port), 10) and p.poll() is None:
                # nginx answers from its master's socket before the worker
                # runs; give every process a moment to settle.
                time.sleep(0.2)
                return p, port
            out = self.procs.log(name)
            if kind == "nginx" and os.path.exists(os.path.join(d, "nginx-error.log")):
                out += open(os.path.join(d, "nginx-error.log")).read()[-2000:]
            self.procs.stop(p)
            if "in use" not in out.lower():
                raise BenchError("%s did not start:\n%s" % (kind, out))
        raise BenchError("%s did not start (ports in use)" % kind)

    def bench(self, port, args, ready=None, on_ready=None, timeout=None):
        """Runs wsgate-bench on core 1 against port; returns its JSON.
        on_ready(…) is called once the ready file appears."""
        self.n += 1
        argv = ["taskset", "-c", "1", self.bench_bin, "--json", "-q"] + args
        if ready:
            argv += ["--ready-file", ready]
        argv.append("ws://127.0.0.1:%d/chat" % port)
        errf = open(os.path.join(self.procs.tmp, "bench%d.err" % self.n), "w+")
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errf, text=True)
        ready_val = None
        if ready:
            if wait_for(lambda: p.poll() is not None or os.path.exists(ready), timeout or 120):
                if p.poll() is None and on_ready:
                    ready_val = on_ready()
        try:
            out, _ = p.communicate(timeout=timeout or 300)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise BenchError("wsgate-bench %s timed out" % " ".join(args))
        if ready and os.path.exists(ready):
            os.unlink(ready)
        try:
            res = json.loads(out)
        except ValueError:
            errf.seek(0)
            raise BenchError("wsgate-bench %s: no JSON (exit %d): %s" %
                             (" ".join(args), p.returncode, errf.read()[-500:]))
        res["_ready"] = ready_val
        return res

    def measure(self, proxy, port, args, ready=None):
        """A run with the proxy's CPU seconds, and how busy each core was,
        read around it (around the measured window when ready is given)."""
        def sample():
            return (cpu_seconds(proxy.pid) if proxy else 0.0, core_busy(), time.monotonic())
        before = sample()
        res = self.bench(port, args, ready=ready, on_ready=sample if ready else None)
        after = sample()
        start = res["_ready"] if ready and res["_ready"] is not None else before
        wall = after[2] - start[2]
        if proxy:
            res["_cpu"] = after[0] - start[0]
        # Loopback receive work runs in softirq on the sender's core and is
        # not in the proxy's /proc/PID/stat; what is left on core 0 beyond
        # the proxy and softirq is other work preempting it. Core 1 near
        # 100 % means the load generator side was the limit.
        soft = after[1][2] - start[1][2]
        res["_core0_softirq"] = soft / wall
        res["_core0_other"] = max(0.0, (after[1][0] - start[1][0]) - (after[0] - start[0]) -
                                  soft) / wall
        res["_core1_busy"] = (after[1][1] - start[1][1]) / wall
        return res

    def sanity(self, kind, port, good, bad):
        r = self.bench(port, ["-c", "1", "-n", "2", "--messages", "1", "-t", good, "-d", "10"])
        if r["handshakes_ok"] != 2 or r["errors_total"]:
            raise BenchError("%s: a valid token does not get through: %r" % (kind, r["errors"]))
        if kind in ("haproxy", "wsgate"):
            r = self.bench(port, ["-c", "1", "-n", "2", "-t", bad, "-d", "10"])
            if r["handshakes_ok"] or not r["errors_total"]:
                raise BenchError("%s admitted a token signed with the wrong key" % kind)
            return sorted(r["errors"])
        return []


def one_target(run, kind, rd, res):
    """Every workload against a fresh process of kind; results into res."""
    a = run.a
    echo, be = run.start_echo()
    proxy, port = run.start_proxy(kind, be)
    try:
        res["rejects"] = run.sanity(kind, port, rd["sanity"], rd["bad"])
        hs = ["-m", "handshake", "-c", "50", "-n", str(a.tokens), "--sources", "16", "-d", "120"]
        res["rs"] = run.measure(proxy, port, hs + ["-t", rd["rs"]])
        res["rs_again"] = run.measure(proxy, port, hs + ["-t", rd["rs"]])
        res["es"] = run.measure(proxy, port, hs + ["-t", rd["es"]])
        sec = ["-d", str(a.seconds)]
        ready = os.path.join(run.procs.tmp, "ready")
        res["rtt"] = run.measure(proxy, port, ["-m", "echo", "-c", "10", "-s", "32",
                                               "-t", rd["es"]] + sec, ready=ready)
        res["tp"] = run.measure(proxy, port, ["-m", "echo", "-c", "10", "-s", "65536",
                                              "-t", rd["es"]] + sec, ready=ready)
        res["msgs"] = run.measure(proxy, port, ["-m", "echo", "-c", "1000", "-s", "32",
                                                "-t", rd["es"]] + sec, ready=ready)
    finally:
        if proxy:
            run.procs.stop(proxy)
        run.procs.stop(echo)
    if kind == "direct":
        return
    # Memory: one more fresh process, idle sessions only.
    echo, be = run.start_echo()
    proxy, port = run.start_proxy(kind, be)
    try:
        base = rss_kb(proxy.pid)
        ready = os.path.join(run.procs.tmp, "ready")
        r = run.bench(port, ["-m", "idle", "-c", str(a.idle), "-d", "1", "--sources", "16",
                             "--open-concurrency", "100", "-t", rd["es"]],
                      ready=ready, on_ready=lambda: rss_kb(proxy.pid))
        r["_rss_base"] = base
        res["idle"] = r
    finally:
        run.procs.stop(proxy)
        run.procs.stop(echo)


def errors_of(res):
    n = 0
    for k, v in res.items():
        if isinstance(v, dict) and "errors_total" in v:
            n += v["errors_total"] + v.get("unfinished", 0)
    return n

# ---------------------------------------------------------------- the table


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(v, digits=0):
    if v is None:
        return "–"
    return "%.*f" % (digits, v)


def ratio(w, h, digits=2):
    if w is None or h is None or h == 0:
        return "–"
    return "%.*f" % (digits, w / h)


# A cell whose rounds spread wider than this (max / min) is marked: the
# median of such rounds says more about the machine than about the proxy.
SPREAD = 1.25


def table(a, results):
    """results[target] = [per-round dicts]. Returns the markdown lines and
    how many cells were marked as spread."""
    spread = []

    def col(t, f):
        rs = results.get(t)
        if not rs:
            return None, False
        vals = []
        for r in rs:
            try:
                vals.append(f(r))
            except (KeyError, TypeError, ZeroDivisionError):
                vals.append(None)
        got = [v for v in vals if v is not None]
        return med(vals), len(got) > 1 and min(got) > 0 and max(got) / min(got) > SPREAD

    def cell(t, f, digits=0, unit=""):
        """(median, its text with the unit, marked when the rounds spread)."""
        v, wide = col(t, f)
        if wide:
            spread.append(t)
        text = fmt(v, digits) + (unit if v is not None else "")
        return v, text + " *" if wide else text

    def hs_rate(key):
        return lambda r: r[key]["handshakes_per_s"] if not r[key]["errors_total"] else None

    def cpu_per_hs(key):
        return lambda r: r[key]["_cpu"] / r[key]["handshakes_ok"] * 1e6

    def rss(r):
        i = r["idle"]
        return (i["_ready"] - i["_rss_base"]) / i["handshakes_ok"]

    rows = []
    tg = [t for t in TARGETS if t in results]

    def row(name, f, digits=0, unit="", ratio_of="haproxy", proxy_only=False, ratio_suffix=""):
        got = {t: (None, "–") if proxy_only and t == "direct" else cell(t, f, digits, unit)
               for t in tg}
        vals = {t: got[t][0] for t in tg}
        cells = [got[t][1] for t in tg]
        rv = ratio(vals.get("wsgate"), vals.get(ratio_of)) if ratio_of else ""
        rows.append("| %s | %s | %s |" % (name, " | ".join(cells),
                                         rv + (ratio_suffix if rv != "–" else "")))

    row("RS256 handshakes/s (never-seen tokens)", hs_rate("rs"))
    row("proxy CPU per RS256 handshake", cpu_per_hs("rs"), unit=" µs", proxy_only=True)
    row("ES256 handshakes/s (never-seen tokens)", hs_rate("es"))
    row("proxy CPU per ES256 handshake", cpu_per_hs("es"), unit=" µs", proxy_only=True)
    row("RS256 again (reconnect storm, same tokens)", hs_rate("rs_again"))
    row("proxy CPU per RS256 handshake, again", cpu_per_hs("rs_again"), unit=" µs",
        proxy_only=True)

    def f50(r):
        return r["rtt"]["rtt_us"]["p50"]

    def f99(r):
        return r["rtt"]["rtt_us"]["p99"]
    p50 = {t: cell(t, f50) for t in tg}
    p99 = {t: cell(t, f99) for t in tg}
    rv = ratio(p99["wsgate"][0] if "wsgate" in p99 else None,
               p99["haproxy"][0] if "haproxy" in p99 else None)
    rows.append("| round trip p50 / p99, 10 sessions × 32 B | %s | %s |" % (
        " | ".join("%s / %s µs%s" % (fmt(p50[t][0]), fmt(p99[t][0]),
                                     " *" if p50[t][1].endswith("*") or p99[t][1].endswith("*")
                                     else "") for t in tg),
        rv + " (p99)" if rv != "–" else rv))
    row("64 KiB echo MB/s, 10 sessions", lambda r: r["tp"]["mb_per_s"], ratio_of="direct",
        ratio_suffix="× direct")
    row("msgs/s, 1000 sessions × 32 B", lambda r: r["msgs"]["messages_per_s"])
    row("proxy CPU per message (1000 sessions)",
        lambda r: r["msgs"]["_cpu"] / r["msgs"]["messages"] * 1e6, digits=1, unit=" µs",
        proxy_only=True)
    row("RSS per idle session, %d sessions, fresh process" % a.idle, rss, digits=1, unit=" kB",
        proxy_only=True)
    runs = ("rs", "rs_again", "es", "rtt", "tp", "msgs")

    def busy(key):
        return lambda r: 100 * statistics.mean(r[k][key] for k in runs)
    row("core 0 in softirq (loopback receive, not in the proxy's CPU), % of the runs",
        busy("_core0_softirq"), unit=" %", ratio_of=None)
    row("core 0 busy with other processes, % of the runs", busy("_core0_other"),
        unit=" %", ratio_of=None)
    row("core 1 busy (load generator, echo backend, others), % of the runs", busy("_core1_busy"),
        unit=" %", ratio_of=None)
    err = {t: sum(errors_of(r) for r in results[t]) for t in tg}
    rows.append("| errors and unfinished sessions, all runs | %s | |" % " | ".join(
        str(err[t]) for t in tg))
    head = "| median of %d round%s | %s | wsgate / HAProxy |" % (
        a.rounds, "" if a.rounds == 1 else "s", " | ".join(LABEL[t] for t in tg))
    sep = "|---" * (len(tg) + 2) + "|"
    nmarked = len(spread)
    return [head, sep] + rows, nmarked


def version_of(argv, pattern):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    m = re.search(pattern, p.stdout + p.stderr)
    return m.group(1) if m else "?"


def machine_line():
    model = "?"
    try:
        for ln in open("/proc/cpuinfo"):
            if ln.startswith("model name"):
                model = ln.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return "%d CPUs (nproc), %s, Linux %s" % (os.cpu_count() or 0, model, platform.release())


def loadavg():
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


def git_rev():
    try:
        p = subprocess.run(["git", "-C", TOP, "rev-parse", "--short", "HEAD"], capture_output=True,
                           text=True, timeout=10)
        return p.stdout.strip() or "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def main():
    a = parse_args()
    build = find_build(a)
    if (os.cpu_count() or 1) < 2:
        raise BenchError("needs 2 cores: the proxy on core 0, load and backend on core 1")
    if not shutil.which("taskset"):
        raise BenchError("taskset not found (util-linux)")
    for t, b in (("haproxy", a.haproxy), ("nginx", a.nginx)):
        if t in a.targets and not os.access(b, os.X_OK):
            raise BenchError("%s not found at %s" % (t, b))
    cmd = "contrib/bench/compare.sh" + "".join(" " + x for x in sys.argv[1:])
    load0 = loadavg()
    t0 = time.monotonic()
    log("machine: %s; load average %s" % (machine_line(), load0))
    hv = version_of([a.haproxy, "-v"], r"version (\S+)")
    nv = version_of([a.nginx, "-v"], r"nginx/(\S+)")
    tmp = tempfile.mkdtemp(prefix="wsgate-compare-")
    procs = Procs(tmp)

    def on_signal(signum, frame):
        raise KeyboardInterrupt
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)

    results = {t: [] for t in a.targets}
    rejects = {}
    try:
        run = Runner(a, build, procs)
        for rnd in range(a.rounds):
            rd = {k: os.path.join(tmp, "r%d-%s.tokens" % (rnd, k))
                  for k in ("rs", "es", "sanity", "bad")}
            tm = time.monotonic()
            run.mint(rd["rs"], "RS256", "rsa.key", a.tokens)
            run.mint(rd["es"], "ES256", "ec256.key", max(a.tokens, a.idle))
            run.mint(rd["sanity"], "RS256", "rsa.key", 2)
            run.mint(rd["bad"], "RS256", "rsa2.key", 2)
            log("round %d: minted %d RS256 and %d ES256 tokens in %.1f s" % (
                rnd + 1, a.tokens, max(a.tokens, a.idle), time.monotonic() - tm))
            # Each round starts with a different target, so that no target
            # always runs right after the token minting.
            order = a.targets[rnd % len(a.targets):] + a.targets[:rnd % len(a.targets)]
            for t in order:
                tt = time.monotonic()
                res = {}
                one_target(run, t, rd, res)
                rejects[t] = res.pop("rejects")
                results[t].append(res)
                log("round %d %-8s RS256 %.0f/s  ES256 %.0f/s  again %.0f/s  rtt p99 %.0f us  "
                    "64k %.0f MB/s  msgs %.0f/s  errors %d  (%.1f s, load %s)" % (
                        rnd + 1, t, res["rs"]["handshakes_per_s"], res["es"]["handshakes_per_s"],
                        res["rs_again"]["handshakes_per_s"], res["rtt"]["rtt_us"]["p99"],
                        res["tp"]["mb_per_s"], res["msgs"]["messages_per_s"], errors_of(res),
                        time.monotonic() - tt, loadavg()))
    except KeyboardInterrupt:
        procs.stop_all()
        log("interrupted")
        return 130
    finally:
        procs.stop_all()
        if os.environ.get("WSBENCH_KEEP_TMP"):
            log("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    elapsed = time.monotonic() - t0
    load1 = loadavg()
    lines, nmarked = table(a, results)
    if nmarked:
        lines.append("")
        lines.append("\\* %d cell%s: the rounds spread by more than %d %% (max / min); "
                     "such a median reflects the machine's load more than the proxy." % (
                         nmarked, "" if nmarked == 1 else "s", round((SPREAD - 1) * 100)))
    notes = [
        "Machine: %s. Load average %s at the start, %s at the end; %.0f s in all." % (
            machine_line(), load0, load1, elapsed),
        "Command: `%s` (wsgate %s, HAProxy %s, nginx %s)." % (cmd, git_rev(), hv, nv),
    ]
    if a.raw:
        with open(a.raw, "w") as f:
            json.dump({"machine": machine_line(), "command": cmd, "results": results}, f)
    print("\n".join(lines))
    print()
    for n in notes:
        print(n)
    bad = {t: sum(errors_of(r) for r in results[t]) for t in results}
    if a.write:
        write_file(a, lines, notes, rejects)
        log("wrote %s" % a.write)
    if any(bad.values()):
        log("errors in the runs: %r (see the errors row)" % bad)
        return 1
    return 0


def write_file(a, lines, notes, rejects):
    rej = "; ".join("%s answers %s" % (t, ", ".join(v)) for t, v in sorted(rejects.items()) if v)
    text = """\
# Benchmarks

Generated by `contrib/bench/compare.sh --write`; do not edit by hand, run it
again. See contrib/bench/README.md for what each row measures.

{notes}

{table}

How it was measured: each proxy runs pinned to core 0 with one worker or
thread (wsgate `workers 1`, HAProxy `nbthread 1`, nginx `worker_processes
1`); `wsgate-bench` and its echo backend (`wsgate-bench --serve`) share
core 1. Every round mints fresh tokens ({tokens} RS256, {es} ES256; each
handshake run uses each token once) and starts a fresh process per target,
plus another fresh one for the idle-memory row. HAProxy checks the
signature with `jwt_verify` and alg, iss, aud, exp and sub with ACLs, and
sets `X-Auth-Sub`; wsgate checks the same and sets the same header; nginx
checks nothing. Handshake runs: 50 concurrent connect, upgrade, close 1000
loops over 127.0.0.1-16. Message runs last {sec:g} s each, messages back
to back, one in flight per session. Proxy CPU is utime + stime from
`/proc/PID/stat` (10 ms ticks) of the proxy and its children, read around
each run; memory is VmRSS from `/proc/PID/status` with the sessions open,
minus the figure before the first connection, over the sessions. A
handshake rate is left out (–) of the medians for a round that had errors.
Sanity checks before each target's runs: a valid token passes; a token
signed with another key is refused ({rej}).
""".format(notes="\n\n".join(notes), table="\n".join(lines), tokens=a.tokens,
           es=max(a.tokens, a.idle), sec=a.seconds, rej=rej or "–")
    with open(a.write + ".new", "w") as f:
        f.write(text)
    os.rename(a.write + ".new", a.write)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        sys.stderr.write("compare: %s\n" % e)
        sys.exit(1)
