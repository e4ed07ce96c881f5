#!/usr/bin/python3
# Deployment files in contrib/: every shipped configuration passes
# "wsgate -t" (key paths under /etc/ pointed at the test keys, nothing else
# touched), the Kubernetes ConfigMap is contrib/kubernetes/wsgate.conf, the
# Dockerfile, pod and unit agree with their configurations, the systemd
# unit and logrotate file pass their own tools when those are installed
# (a real rotation of a running gateway's logs), and TCP probes leave no
# trace in the logs.

import os
import re
import shutil
import socket
import sys

sys.dont_write_bytecode = True   # keep t/lib free of __pycache__ (EXTRA_DIST ships it)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from wsgatetest import (BIN, KEYS, SRCDIR, TMP, Gateway, check, diag, done, is_, ok,  # noqa: E402
                        run, skip, wait_for, write_file)

CONTRIB = os.path.join(SRCDIR, "contrib")

# Key files the shipped configurations expect under /etc, and the test
# fixture of the same kind that stands in for each.
FIXTURES = {
    "jwt.pub": os.path.join(KEYS, "rsa.pub"),
    "jwt.secret": os.path.join(KEYS, "hmac.secret"),
    "jwks.json": os.path.join(KEYS, "jwks.json"),
}
KEY_LINE = re.compile(r"^(\s*(?:key_file|hmac_secret_file)\s+)(/etc/\S+?)(;.*)$")
ANY_KEY_LINE = re.compile(r"^(\s*(?:key_file|hmac_secret_file)\s+)\S+?(;.*)$")


def read(rel):
    with open(os.path.join(SRCDIR, rel)) as f:
        return f.read()


def directive(text, name):
    """Arguments of the first uncommented main-context directive NAME."""
    m = re.search(r"^%s\s+([^;#]*);" % re.escape(name), text, re.M)
    return m.group(1).split() if m else None


def seconds(duration):
    m = re.fullmatch(r"(\d+)(ms|s|m|h)?", duration or "")
    if not m:
        return None
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


def check_rewritten(rel):
    """Runs wsgate -t on a copy of contrib config REL whose /etc key paths
    point at the fixtures; every other line must be unchanged."""
    text = read(rel)
    lines = text.split("\n")
    out, problems, rewritten = [], [], 0
    for i, ln in enumerate(lines, 1):
        m = KEY_LINE.match(ln)
        if not m:
            if not ln.lstrip().startswith("#") and re.search(r"\s/etc/", ln.split("#")[0]):
                problems.append("line %d names a file under /etc/ that the test cannot stand in "
                                "for: %s" % (i, ln))
            out.append(ln)
            continue
        fixture = FIXTURES.get(os.path.basename(m.group(2)))
        if not fixture:
            problems.append("line %d: no test key for %s" % (i, m.group(2)))
            out.append(ln)
            continue
        out.append(m.group(1) + fixture + m.group(3))
        rewritten += 1
    ok(rewritten > 0 and not problems, "%s: key paths rewritten to the test keys (%d)" % (rel, rewritten),
       "\n".join(problems) or "no key_file/hmac_secret_file under /etc/ found")
    new = "\n".join(out)
    # The copy differs from the original only in the rewritten paths.
    diff = [(a, b) for a, b in zip(lines, new.split("\n")) if a != b]
    check("%s: every other line is unchanged" % rel,
          ["changed beyond a key path: %r -> %r" % (a, b) for a, b in diff
           if not KEY_LINE.match(a) or ANY_KEY_LINE.sub(r"\1\2", a) != ANY_KEY_LINE.sub(r"\1\2", b)]
          + ([] if len(new.split("\n")) == len(lines) else ["line count changed"]))
    path = write_file(rel.replace("/", "_"), new)
    rc, sout, serr = run([BIN, "-t", "-c", path], cwd=TMP)
    ok(rc == 0 and ("wsgate: configuration %s is ok" % path) in sout.splitlines(),
       "wsgate -t accepts %s" % rel, "rc %r stdout %r stderr %r" % (rc, sout, serr))
    return text


def listen_port(text):
    args = directive(text, "listen")
    return int(args[0].rsplit(":", 1)[1]) if args else None


# ---------------------------------------------------------------- conf/

rc, out, err = run([BIN, "-t", "-c", "conf/wsgate.conf"], cwd=SRCDIR)
ok(rc == 0 and "wsgate: configuration conf/wsgate.conf is ok" in out.splitlines(),
   "wsgate -t accepts conf/wsgate.conf as is", "rc %r stdout %r stderr %r" % (rc, out, err))

# ---------------------------------------------------------------- docker

docker_conf = check_rewritten("contrib/docker/wsgate.conf")
dockerfile = read("contrib/docker/Dockerfile")
stages = re.split(r"^FROM\s", dockerfile, flags=re.M)[1:]
is_(len(stages), 2, "Dockerfile has a build and a runtime stage")
build_stage, runtime_stage = (stages + ["", ""])[:2]
problems = []
for s in stages:
    if not s.startswith("debian:12-slim"):
        problems.append("stage not on debian:12-slim: FROM %s" % s.split("\n")[0])
if not re.search(r"\./configure --prefix=/usr --sysconfdir=/etc\b", build_stage):
    problems.append("build stage does not configure --prefix=/usr --sysconfdir=/etc")
if "make install DESTDIR=/out" not in build_stage:
    problems.append("build stage does not make install DESTDIR=/out")
if not re.search(r"^COPY --from=build /out/usr/sbin/wsgate /usr/sbin/wsgate$", runtime_stage, re.M):
    problems.append("runtime stage does not copy /usr/sbin/wsgate from the build stage")
if not re.search(r"^COPY contrib/docker/wsgate\.conf /etc/wsgate/wsgate\.conf$", runtime_stage, re.M):
    problems.append("runtime stage does not install contrib/docker/wsgate.conf as /etc/wsgate/wsgate.conf")
if not re.search(r'^ENTRYPOINT \["/usr/sbin/wsgate", "-c", "/etc/wsgate/wsgate\.conf"\]$', runtime_stage,
                 re.M):
    problems.append("ENTRYPOINT is not /usr/sbin/wsgate -c /etc/wsgate/wsgate.conf")
user = re.search(r"^USER\s+(\S+)", runtime_stage, re.M)
if not user or user.group(1).split(":")[0] in ("0", "root") or not user.group(1).split(":")[0].isdigit():
    problems.append("runtime stage does not run as a numeric non-root USER")
expose = re.findall(r"^EXPOSE\s+(\d+)", runtime_stage, re.M)
if [str(listen_port(docker_conf))] != expose:
    problems.append("EXPOSE %s but wsgate.conf listens on %s" % (expose, listen_port(docker_conf)))
check("Dockerfile: stages, paths, user and port agree with contrib/docker/wsgate.conf", problems)

# The build stage installs every -dev package of the build dependencies
# contrib/install-deps.sh names (its pkgs list; test_pkgs are for the suite).
deps = re.search(r'^pkgs="([^"]*)"', read("contrib/install-deps.sh"), re.M).group(1)
dev = sorted(set(re.findall(r"\blib[a-z0-9.+-]*-dev\b", deps)) - {"libc6-dev"})
check("Dockerfile build stage installs the -dev packages of contrib/install-deps.sh (%s)" % " ".join(dev),
      ["%s missing" % p for p in dev if not re.search(r"\b%s\b" % re.escape(p), build_stage)])


def runtime_packages():
    """Debian packages of the shared libraries the binary under test links
    directly, less the base system and sanitizer runtimes; None without
    ldd/dpkg."""
    if not shutil.which("ldd") or not shutil.which("dpkg-query"):
        return None
    rc, out, _ = run(["ldd", BIN])
    if rc != 0:
        return None
    paths = dict(re.findall(r"^\s*(\S+)\s+=>\s+(/\S+)", out, re.M))
    # Only the binary's own NEEDED entries: what those libraries need in
    # turn comes with their packages' dependencies.
    if shutil.which("readelf"):
        rc, dyn, _ = run(["readelf", "-d", BIN])
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^]]+)\]", dyn)
        if rc == 0 and needed:
            paths = {k: v for k, v in paths.items() if k in needed}
    pkgs, unknown = set(), []
    for lib in paths.values():
        # With merged /usr a library may be registered under either path.
        for cand in (lib, os.path.realpath(lib)):
            rc, owner, _ = run(["dpkg-query", "-S", cand])
            if rc == 0:
                break
        else:
            unknown.append(lib)
            continue
        pkgs.add(owner.split(":")[0])
    if unknown:
        diag("no package owns: %s" % " ".join(unknown))
    base = {"libc6", "libgcc-s1", "libstdc++6", "libasan8", "libubsan1", "liblsan0", "libtsan2"}
    return sorted(pkgs - base)


pkgs = runtime_packages()
if pkgs is None:
    skip("Dockerfile runtime stage installs the libraries wsgate links", "no ldd or dpkg-query")
else:
    check("Dockerfile runtime stage installs the libraries wsgate links (%s)" % " ".join(pkgs),
          ["%s missing" % p for p in pkgs if not re.search(r"\s%s\s" % re.escape(p), runtime_stage)])

# ---------------------------------------------------------------- kubernetes

k8s_conf = check_rewritten("contrib/kubernetes/wsgate.conf")
check_rewritten("contrib/examples/graphql-ws/wsgate.conf")
pod_text = read("contrib/kubernetes/pod.yaml")


def block_scalar(text, key):
    """The literal block scalar "KEY: |" of a YAML text, with the stdlib:
    its lines de-indented, ending in one newline (YAML's clip chomping)."""
    lines = text.split("\n")
    for i, ln in enumerate(lines):
        m = re.match(r"^(\s*)%s:\s*\|\s*$" % re.escape(key), ln)
        if not m:
            continue
        body, indent = [], None
        for nxt in lines[i + 1:]:
            if nxt.strip() == "":
                body.append("")
                continue
            lead = len(nxt) - len(nxt.lstrip(" "))
            if indent is None:
                indent = lead
            if lead < indent or lead <= len(m.group(1)):
                break
            body.append(nxt[indent:])
        while body and body[-1] == "":
            body.pop()
        return "\n".join(body) + "\n"
    return None


cm = block_scalar(pod_text, "wsgate.conf")
ok(cm is not None and cm == k8s_conf,
   "pod.yaml: the ConfigMap's wsgate.conf is exactly contrib/kubernetes/wsgate.conf",
   "first difference at line %s" % next((i + 1 for i, (a, b) in enumerate(
       zip((cm or "").split("\n"), k8s_conf.split("\n"))) if a != b), "(length)")
   if cm is not None else "no \"wsgate.conf: |\" block in pod.yaml")

try:
    import yaml
except ImportError:
    yaml = None
if yaml is None:
    skip("pod.yaml parses as YAML: ConfigMap, Pod, Service", "python3-yaml not installed")
    skip("pod.yaml: the pod, its sidecar and the Service agree with wsgate.conf", "python3-yaml not installed")
else:
    try:
        docs = [d for d in yaml.safe_load_all(pod_text) if d is not None]
        err = None
    except yaml.YAMLError as e:
        docs, err = [], str(e)
    kinds = {d.get("kind"): d for d in docs if isinstance(d, dict)}
    ok(err is None and sorted(kinds) == ["ConfigMap", "Pod", "Service"] and len(docs) == 3,
       "pod.yaml parses as YAML: ConfigMap, Pod, Service", err or "kinds %r" % [d.get("kind") for d in docs])
    problems = []
    try:
        cmap, pod, svc = kinds["ConfigMap"], kinds["Pod"], kinds["Service"]
        if cmap["data"].get("wsgate.conf") != k8s_conf:
            problems.append("YAML's view of the ConfigMap differs from contrib/kubernetes/wsgate.conf")
        spec = pod["spec"]
        ctrs = {c["name"]: c for c in spec["containers"]}
        gw = ctrs.pop("wsgate")
        app = list(ctrs.values())
        if len(app) != 1:
            problems.append("expected one application container next to wsgate, got %d" % len(app))
        vols = {v["name"]: v for v in spec["volumes"]}
        mounts = {m["mountPath"]: m for m in gw["volumeMounts"]}
        # -c FILE lives in a read-only mount of this ConfigMap.
        argv = gw.get("command", []) + gw.get("args", [])
        conf_path = argv[argv.index("-c") + 1] if "-c" in argv else None
        m = mounts.get(os.path.dirname(conf_path or ""))
        if not m or vols[m["name"]].get("configMap", {}).get("name") != cmap["metadata"]["name"] \
                or os.path.basename(conf_path) not in cmap["data"] or not m.get("readOnly"):
            problems.append("wsgate's -c %s is not the ConfigMap mounted read-only" % conf_path)
        # Every key file of the configuration is in a read-only Secret mount.
        for key in re.findall(r"^\s*(?:key_file|hmac_secret_file)\s+(\S+);", k8s_conf, re.M):
            m = mounts.get(os.path.dirname(key))
            if not m or "secret" not in vols[m["name"]] or not m.get("readOnly"):
                problems.append("%s is not in a read-only Secret mount" % key)
        # Ports: listen and status_listen are the containerPorts; the
        # Service maps 80 to the listen port only; readiness asks /healthz.
        lp = listen_port(k8s_conf)
        st = directive(k8s_conf, "status_listen")
        stp = int(st[0].rsplit(":", 1)[1]) if st else None
        cports = sorted(p["containerPort"] for p in gw.get("ports", []))
        if cports != sorted(p for p in (lp, stp) if p):
            problems.append("containerPorts %r but wsgate listens on %r and %r" % (cports, lp, stp))
        rp = gw.get("readinessProbe", {})
        if stp and rp.get("httpGet") != {"path": "/healthz", "port": stp}:
            problems.append("readinessProbe %r is not GET /healthz on status_listen port %r" % (rp, stp))
        if "httpGet" in gw.get("livenessProbe", {}):
            problems.append("livenessProbe on /healthz would restart wsgate whenever Redis is down")
        sp = svc["spec"]["ports"]
        if [(p["port"], p["targetPort"]) for p in sp] != [(80, lp)]:
            problems.append("Service ports %r, want 80 -> %r" % (sp, lp))
        sel = svc["spec"]["selector"]
        if not sel or any(pod["metadata"]["labels"].get(k) != v for k, v in sel.items()):
            problems.append("Service selector %r does not select the pod" % sel)
        ups = re.findall(r"^\s*upstream\s+([^;]*);", k8s_conf, re.M)
        if ups != ["127.0.0.1:3000"]:
            problems.append("upstream %r, want the app on 127.0.0.1:3000" % ups)
        # Hardening of both containers.
        psc = spec.get("securityContext", {})
        for c in [gw] + app:
            sc = dict(psc, **c.get("securityContext", {}))
            for k, want in (("runAsNonRoot", True), ("readOnlyRootFilesystem", True),
                            ("allowPrivilegeEscalation", False)):
                if sc.get(k) != want:
                    problems.append("%s: securityContext %s is %r" % (c["name"], k, sc.get(k)))
            if sc.get("capabilities", {}).get("drop") != ["ALL"]:
                problems.append("%s: capabilities not dropped" % c["name"])
            if "limits" not in c.get("resources", {}) or "requests" not in c.get("resources", {}):
                problems.append("%s: no resource requests and limits" % c["name"])

        # Termination: wsgate's preStop + shutdown_timeout fits the grace
        # period, and the application outlives the drain.
        def prestop(c):
            cmd = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
            return int(cmd[1]) if len(cmd) == 2 and cmd[0] == "sleep" else 0
        drain = prestop(gw) + seconds(directive(k8s_conf, "shutdown_timeout")[0])
        grace = spec.get("terminationGracePeriodSeconds", 30)
        if not drain < grace:
            problems.append("preStop + shutdown_timeout = %ss, not below terminationGracePeriodSeconds %s"
                            % (drain, grace))
        for c in app:
            if not drain <= prestop(c) < grace:
                problems.append("%s preStop %ss: should outlive wsgate's drain (%ss) within the grace period"
                                % (c["name"], prestop(c), drain))
        if prestop(gw) <= 0:
            problems.append("wsgate has no preStop delay for endpoint removal")
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        problems.append("unexpected structure: %r" % e)
    check("pod.yaml: the pod, its sidecar and the Service agree with wsgate.conf", problems)

# ---------------------------------------------------------------- kubernetes fleet

fleet_conf = check_rewritten("contrib/kubernetes/fleet.conf")
fleet_text = read("contrib/kubernetes/fleet.yaml")
ok(block_scalar(fleet_text, "wsgate.conf") == fleet_conf,
   "fleet.yaml: the ConfigMap's wsgate.conf is exactly contrib/kubernetes/fleet.conf")
fl = directive(fleet_conf, "listen") or []
rd = (directive(fleet_conf, "redis") or [""])[0]
ok("proxy_protocol" in fl[1:] and rd.startswith("sentinel://") and
   directive(fleet_conf, "revocation_channel"),
   "fleet.conf: PROXY protocol listener, Redis through Sentinel, a revocation channel",
   (fl, rd))
if yaml is None:
    skip("fleet.yaml: replicas, load balancer, probes and Sentinel agree with fleet.conf",
         "python3-yaml not installed")
else:
    problems = []
    try:
        docs = [d for d in yaml.safe_load_all(fleet_text) if d is not None]
        by = {}
        for d in docs:
            by.setdefault(d["kind"], []).append(d)
        dep = by["Deployment"][0]
        if dep["spec"]["replicas"] < 2:
            problems.append("the Deployment has %r replicas" % dep["spec"]["replicas"])
        pspec = dep["spec"]["template"]["spec"]
        gw = [c for c in pspec["containers"] if c["name"] == "wsgate"][0]
        lp = listen_port(fleet_conf)
        st = directive(fleet_conf, "status_listen")
        stp = int(st[0].rsplit(":", 1)[1])
        if gw.get("livenessProbe", {}).get("tcpSocket", {}).get("port") == lp:
            problems.append("a TCP probe of the proxy_protocol port sends no PROXY header")
        if gw.get("readinessProbe", {}).get("httpGet") != {"path": "/healthz", "port": stp}:
            problems.append("readinessProbe is not /healthz on the status port")
        svcs = {d["metadata"]["name"]: d for d in by["Service"]}
        lb = svcs["chat"]
        if lb["spec"].get("type") != "LoadBalancer" or \
                "proxy-protocol" not in " ".join(lb["metadata"].get("annotations", {})):
            problems.append("the chat Service is not a load balancer sending the PROXY protocol")
        if [(p["port"], p["targetPort"]) for p in lb["spec"]["ports"]] != [(80, lp)]:
            problems.append("chat Service ports do not map 80 to the listen port")
        sent = svcs["redis-sentinel"]
        want = rd[len("sentinel://"):].split("/")[0]
        have = "%s:%d" % (sent["spec"]["clusterIP"], sent["spec"]["ports"][0]["port"])
        if want != have:
            problems.append("fleet.conf asks sentinels %s, the Service is %s" % (want, have))
        master = rd.rsplit("/", 1)[1]
        scripts = by["ConfigMap"][1]["data"]["sentinel.sh"]
        if "sentinel monitor %s " % master not in scripts:
            problems.append("the sentinels do not monitor %s" % master)
        if by["StatefulSet"][0]["spec"]["replicas"] < 2:
            problems.append("one Redis pod cannot fail over")
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        problems.append("unexpected structure: %r" % e)
    check("fleet.yaml: replicas, load balancer, probes and Sentinel agree with fleet.conf", problems)

# ---------------------------------------------------------------- systemd

unit = read("contrib/systemd/wsgate.service")
problems = []
settings = {}
for ln in unit.split("\n"):
    m = re.match(r"^([A-Za-z]+)=(.*)$", ln)
    if m:
        settings.setdefault(m.group(1), []).append(m.group(2))
start = settings.get("ExecStart", [""])[0]
if settings.get("Type") != ["exec"]:
    problems.append("Type is %r, want exec" % settings.get("Type"))
if not re.fullmatch(r"/usr/local/sbin/wsgate -c (/\S+)", start):
    problems.append("ExecStart %r" % start)
if settings.get("ExecStartPre", [""])[0] != start.replace(" -c ", " -t -c ", 1):
    problems.append("ExecStartPre %r does not check ExecStart's configuration" % settings.get("ExecStartPre"))
if "/bin/kill -HUP $MAINPID" not in settings.get("ExecReload", []):
    problems.append("ExecReload does not send SIGHUP")
stop = seconds(settings.get("TimeoutStopSec", [""])[0])
if stop is None or stop <= seconds(directive(read("conf/wsgate.conf"), "shutdown_timeout")[0]):
    problems.append("TimeoutStopSec %r not above shutdown_timeout" % settings.get("TimeoutStopSec"))
for k, v in (("KillSignal", "SIGTERM"), ("Restart", "on-failure"), ("CapabilityBoundingSet", ""),
             ("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("LogsDirectory", "wsgate"),
             ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"), ("MemoryDenyWriteExecute", "yes")):
    if settings.get(k) != [v]:
        problems.append("%s=%r, want %r" % (k, settings.get(k), v))
if "AmbientCapabilities" in settings:
    problems.append("AmbientCapabilities set: only for ports below 1024")
check("wsgate.service: exec, -t before start, HUP reload, stop timeout above shutdown_timeout, sandbox",
      problems)

analyze = shutil.which("systemd-analyze")
if not analyze:
    skip("systemd-analyze verify accepts wsgate.service", "systemd-analyze not installed")
else:
    # The installed path does not exist here: point the Exec lines at the
    # binary under test, change nothing else.
    d = os.path.join(TMP, "systemd")
    os.mkdir(d)
    copy = unit.replace("=/usr/local/sbin/wsgate ", "=%s " % BIN)
    changed = [(a, b) for a, b in zip(unit.split("\n"), copy.split("\n")) if a != b]
    ok(len(changed) == 3 and all(a.startswith("Exec") for a, _ in changed),
       "wsgate.service: only the three wsgate paths of Exec lines rewritten for verification",
       repr(changed))
    path = write_file(os.path.join(d, "wsgate.service"), copy)
    rc, out, err = run([analyze, "verify", "--man=no", path])
    noise = [ln for ln in (out + err).splitlines() if "wsgate.service" in ln]
    ok(rc == 0 and not noise, "systemd-analyze verify accepts wsgate.service",
       "rc %r\n%s" % (rc, out + err))

# ---------------------------------------------------------------- logrotate

rot = read("contrib/logrotate/wsgate")
problems = []
if not re.search(r"^/var/log/wsgate/\*\.log \{$", rot, re.M):
    problems.append("does not rotate /var/log/wsgate/*.log")
post = re.search(r"^\s*postrotate\n(.*?)^\s*endscript", rot, re.M | re.S)
if not post or "systemctl kill" not in post.group(1) or "-s USR1 wsgate.service" not in post.group(1) \
        or "pkill -USR1 -x wsgate" not in post.group(1):
    problems.append("postrotate does not send SIGUSR1 via systemctl kill with a pkill fallback")
if re.search(r"^\s*copytruncate", rot, re.M):
    problems.append("copytruncate loses lines; wsgate reopens on SIGUSR1")
check("logrotate/wsgate: /var/log/wsgate/*.log, SIGUSR1 in postrotate", problems)

logrotate = shutil.which("logrotate") or next(
    (p for p in ("/usr/sbin/logrotate", "/sbin/logrotate") if os.access(p, os.X_OK)), None)
if not logrotate or not post:
    skip("logrotate rotates a running gateway's logs and it reopens them", "logrotate not installed")
else:
    # A real rotation of a real gateway's log files, with the file's own
    # options; only the path and the signalling (no systemd, no pkill of
    # other processes here) are replaced.
    d = os.path.join(TMP, "log")
    os.mkdir(d)
    gw = Gateway(read("conf/wsgate.conf")
                 .replace("127.0.0.1:8080;", "127.0.0.1:@PORT@;")
                 .replace("access_log stderr json;", "access_log %s/access.log json;" % d)
                 .replace("error_log stderr info;", "error_log %s/error.log info;" % d)
                 .replace("conf/keys/", os.path.join(SRCDIR, "conf", "keys") + "/"), name="rotated")

    def request(path):
        try:
            with socket.create_connection(("127.0.0.1", gw.port), timeout=2) as s:
                s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
                return s.recv(64)
        except OSError:
            return b""

    def logged(name, what):
        try:
            with open(os.path.join(d, name)) as f:
                return what in f.read()
        except OSError:
            return False

    ok(request("/before").startswith(b"HTTP/1.1 400") and wait_for(lambda: logged("access.log", "/before")),
       "gateway logging to files is up", repr(sorted(os.listdir(d))))
    cfg = rot.replace("/var/log/wsgate/", d + "/").replace(post.group(1), "        kill -USR1 %d\n" % gw.proc.pid)
    cfgpath = write_file("logrotate.conf", cfg)
    os.chmod(cfgpath, 0o644)
    rc, out, err = run([logrotate, "-f", "-s", os.path.join(TMP, "logrotate.state"), cfgpath])
    ok(rc == 0 and os.path.exists(os.path.join(d, "access.log.1")),
       "logrotate -f renames the logs", "rc %r\n%s%s\n%r" % (rc, out, err, sorted(os.listdir(d))))
    request("/after")
    ok(wait_for(lambda: logged("access.log", "/after")) and logged("access.log.1", "/before")
       and not logged("access.log.1", "/after") and gw.alive(),
       "after SIGUSR1 the gateway writes a fresh access.log", "files %r" % sorted(os.listdir(d)))
    is_(gw.stop(), 0, "gateway exits 0 on SIGTERM")

# ---------------------------------------------------------------- probes

# The pod's liveness probe, TCP health checks of load balancers and the
# Dockerfile's advice rely on a bare connect and close leaving no trace in
# the logs (it would be a line every few seconds).
probe_gw = Gateway(read("conf/wsgate.conf").replace("127.0.0.1:8080;", "127.0.0.1:@PORT@;")
                   .replace("conf/keys/", os.path.join(SRCDIR, "conf", "keys") + "/"), name="probed")
for _ in range(3):
    socket.create_connection(("127.0.0.1", probe_gw.port), timeout=2).close()
with socket.create_connection(("127.0.0.1", probe_gw.port), timeout=2) as s:
    s.sendall(b"GET /marker HTTP/1.1\r\nHost: x\r\n\r\n")
    s.recv(64)
wait_for(lambda: "/marker" in probe_gw.log())
is_(probe_gw.stop(), 0, "probed gateway exits 0 on SIGTERM")
lifecycle = ("listening on", "started with", "shutting down", "stopped")
other = [ln for ln in probe_gw.log().splitlines() if not any(x in ln for x in lifecycle)]
ok(other and all("/marker" in ln or "not_websocket" in ln for ln in other),
   "a TCP probe (connect, close) is not logged", "\n".join(other))

# ---------------------------------------------------------------- haproxy
hap_text = read("contrib/haproxy/haproxy.cfg")
servers = re.findall(r"^\s*server\s+\S+\s+(\S+)(.*)$", hap_text, re.M)
ok(servers and all("send-proxy-v2" in rest.split() for _, rest in servers),
   "contrib/haproxy: every server is sent the PROXY v2 header", servers)
ok(re.search(r"^\s*mode tcp$", hap_text, re.M),
   "contrib/haproxy: TCP mode, the WebSocket traffic is not rewritten")
ok(re.search(r"^#\s+listen \S+ proxy_protocol;", hap_text, re.M),
   "contrib/haproxy: names the wsgate listen line it needs")
hap = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)
if hap:
    rc, out, err = run([hap, "-c", "-f", os.path.join(CONTRIB, "haproxy", "haproxy.cfg")])
    ok(rc == 0, "contrib/haproxy/haproxy.cfg passes haproxy -c", out + err)
else:
    skip("contrib/haproxy/haproxy.cfg passes haproxy -c", "no haproxy")

done()
