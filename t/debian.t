#!/usr/bin/python3
# Debian packaging (debian/): "dpkg-buildpackage -us -uc -b" on a copy of
# the source tree in a temp dir builds a .deb that installs the binary, the
# manual pages, /etc/wsgate/wsgate.conf (a conffile), the systemd unit and
# the logrotate file of contrib/. The package is unpacked into a scratch
# root with dpkg -x (nothing is installed on this machine), and the unit's
# own command lines, run from that root with -t, accept the packaged
# configuration.

import gzip
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True   # keep t/lib free of __pycache__ (EXTRA_DIST ships it)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from wsgatetest import SRCDIR, TMP, check, diag, done, is_, ok, run, skip  # noqa: E402

POINTS = ["the package builds", "the package holds what it should and nothing else",
          "conffiles: /etc/wsgate/wsgate.conf and /etc/logrotate.d/wsgate",
          "packaged wsgate.conf is debian/wsgate.conf", "packaged unit is contrib's with /usr/sbin",
          "packaged logrotate file is contrib's", "packaged manual pages are man/'s",
          "Depends: the shared libraries", "the unit is installed disabled",
          "the packaged binary reads /etc/wsgate/wsgate.conf by default and has the package's version",
          "ExecStartPre from the scratch root", "ExecStart with -t from the scratch root"]

missing = [p for p in ("dpkg-buildpackage", "dh", "dpkg-deb") if not shutil.which(p)]
if missing:
    for n in POINTS:
        skip(n, "%s not installed (bash contrib/install-deps.sh --test)" % " ".join(missing))
    done()


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


# ---------------------------------------------------------------- a copy of the source tree
# A checkout's tracked files as they are in the working tree (what "git
# archive" would give once committed, so the test checks what is about to
# be committed); a tree without git (the "make dist" tarball) as it is,
# less build output.
src = os.path.join(TMP, "wsgate-src")
git = shutil.which("git")
rc, out, _ = run([git, "-C", SRCDIR, "ls-files", "-z"]) if git else (1, "", "")
if rc == 0 and out:
    for rel in out.split("\0"):
        if not rel or not os.path.lexists(os.path.join(SRCDIR, rel)):
            continue
        os.makedirs(os.path.join(src, os.path.dirname(rel)), exist_ok=True)
        shutil.copy2(os.path.join(SRCDIR, rel), os.path.join(src, rel), follow_symlinks=False)
    diag("source: the %d tracked files of the checkout" % len([r for r in out.split("\0") if r]))
else:
    shutil.copytree(SRCDIR, src, symlinks=True, ignore=shutil.ignore_patterns(
        "build*", "node_modules", "autom4te.cache", ".git", "*.o", "*.a", "__pycache__"))
    diag("source: a copy of %s" % SRCDIR)

# ---------------------------------------------------------------- the build
# Outside this test's make: its jobserver and variables are not the
# package build's.
env = {k: v for k, v in os.environ.items()
       if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "DESTDIR")
       and not k.startswith("DEB_")}
env["DEB_BUILD_OPTIONS"] = "nocheck parallel=2"
t0 = time.monotonic()
try:
    p = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src, env=env,
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=600)
    blog, brc = (p.stdout + p.stderr).decode("utf-8", "replace"), p.returncode
except subprocess.TimeoutExpired as e:
    blog, brc = ((e.stdout or b"") + (e.stderr or b"")).decode("utf-8", "replace"), -1
took = time.monotonic() - t0
version = re.match(r"wsgate \(([^)]+)\)", read(os.path.join(src, "debian", "changelog"))).group(1)
arch = run(["dpkg", "--print-architecture"])[1].strip()
deb = os.path.join(TMP, "wsgate_%s_%s.deb" % (version, arch))
if not ok(brc == 0 and os.path.exists(deb), "the package builds (dpkg-buildpackage -us -uc -b, %.0fs)" % took,
          "exit %r, %s\n%s" % (brc, "no " + deb if not os.path.exists(deb) else deb, blog[-4000:])):
    for n in POINTS[1:]:
        ok(False, n + " (no package)")
    done()
diag("built %s in %.1fs" % (os.path.basename(deb), took))

# ---------------------------------------------------------------- contents
rc, listing, err = run(["dpkg-deb", "-c", deb])
files = sorted(ln.split(None, 5)[5].split(" -> ")[0].lstrip(".") for ln in listing.splitlines()
               if not ln.startswith("d"))
unit_path = next((f for f in files if f.endswith("/systemd/system/wsgate.service")), None)
want = ["/usr/sbin/wsgate", "/usr/share/man/man8/wsgate.8.gz", "/usr/share/man/man5/wsgate.conf.5.gz",
        "/usr/bin/wsgate-bench", "/usr/share/man/man1/wsgate-bench.1.gz",
        "/etc/wsgate/wsgate.conf", "/etc/logrotate.d/wsgate", "/usr/share/doc/wsgate/copyright",
        "/usr/share/doc/wsgate/examples/wsgate.conf"]
p = ["%s missing" % f for f in want if f not in files]
if unit_path not in ("/lib/systemd/system/wsgate.service", "/usr/lib/systemd/system/wsgate.service"):
    p.append("no systemd unit in /lib/systemd/system or /usr/lib/systemd/system")
allowed = re.compile(r"^(/usr/sbin/wsgate|/usr/bin/wsgate-bench|"
                     r"/usr/share/man/man[158]/wsgate[-.a-z0-9]*\.gz|/etc/wsgate/[^/]+|"
                     r"/etc/logrotate\.d/wsgate|(/usr)?/lib/systemd/system/wsgate\.service|"
                     r"/usr/share/doc/wsgate/.+)$")
p += ["unexpected file %s" % f for f in files if not allowed.match(f)]
check("the package holds what it should and nothing else (%d files)" % len(files), p + ([listing] if p else []))

ctrl = os.path.join(TMP, "DEBIAN")
run(["dpkg-deb", "-e", deb, ctrl])
conffiles = read(os.path.join(ctrl, "conffiles")).split() if os.path.exists(os.path.join(ctrl, "conffiles")) else []
is_(sorted(conffiles), ["/etc/logrotate.d/wsgate", "/etc/wsgate/wsgate.conf"],
    "conffiles: /etc/wsgate/wsgate.conf and /etc/logrotate.d/wsgate")

root = os.path.join(TMP, "root")
rc, _, err = run(["dpkg", "-x", deb, root])
ok(rc == 0 and read(os.path.join(root, "etc/wsgate/wsgate.conf")) == read(os.path.join(src, "debian/wsgate.conf")),
   "packaged wsgate.conf is debian/wsgate.conf", err)

unit = read(os.path.join(root, unit_path.lstrip("/"))) if unit_path else ""
contrib_unit = read(os.path.join(src, "contrib/systemd/wsgate.service"))
changed = [(a, b) for a, b in zip(contrib_unit.split("\n"), unit.split("\n")) if a != b]
ok(len(unit.split("\n")) == len(contrib_unit.split("\n")) and len(changed) == 3 and
   all(a.startswith("Exec") and b == a.replace("=/usr/local/sbin/wsgate ", "=/usr/sbin/wsgate ")
       for a, b in changed),
   "packaged unit is contrib's with /usr/sbin/wsgate in its three Exec lines", repr(changed))
ok(read(os.path.join(root, "etc/logrotate.d/wsgate")) == read(os.path.join(src, "contrib/logrotate/wsgate")),
   "packaged logrotate file is contrib/logrotate/wsgate")
ok(all(gzip.decompress(read(os.path.join(root, "usr/share/man/man%s/%s.gz" % (sec, name)), "rb")) ==
       read(os.path.join(src, "man", name), "rb") for sec, name in (("8", "wsgate.8"), ("5", "wsgate.conf.5"))),
   "packaged manual pages are man/wsgate.8 and man/wsgate.conf.5")
dep = run(["dpkg-deb", "-f", deb, "Depends"])[1]
dep_pkgs = set(re.findall(r"(?:^|[,|])\s*([a-z0-9][a-z0-9.+-]*)", dep))
# The package of every library the packaged binary itself needs.
rc, ldd, _ = run(["ldd", os.path.join(root, "usr/sbin/wsgate")])
needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^]]+)\]",
                    run(["readelf", "-d", os.path.join(root, "usr/sbin/wsgate")])[1])
owners, p = set(), []
for lib, path in re.findall(r"^\s*(\S+)\s+=>\s+(/\S+)", ldd, re.M):
    if lib not in needed:
        continue            # what those libraries need comes with their packages
    for cand in (path, os.path.realpath(path)):
        rc, owner, _ = run(["dpkg-query", "-S", cand])
        if rc == 0:
            owners.add(owner.split(":")[0])
            break
    else:
        p.append("no package owns %s" % path)
p += ["%s (the package of a library wsgate links) not in Depends" % o for o in sorted(owners - dep_pkgs)]
check("Depends: the packages of the shared libraries wsgate links (%s)" % " ".join(sorted(owners)),
      p + ([] if owners else ["ldd found no libraries: %r" % ldd]))
postinst = read(os.path.join(ctrl, "postinst")) if os.path.exists(os.path.join(ctrl, "postinst")) else ""
ok("wsgate.service" in postinst and "deb-systemd-invoke" in postinst and
   not re.search(r"^\s*deb-systemd-helper enable 'wsgate\.service'", postinst.split("was-enabled")[0], re.M),
   "the unit is installed disabled (enabled only if it was before), started only once enabled", postinst)

# ---------------------------------------------------------------- the unit's command lines
binary = os.path.join(root, "usr/sbin/wsgate")
rc, hout, herr = run([binary, "-h"])
rc2, vout, verr = run([binary, "-V"])
ok("/etc/wsgate/wsgate.conf" in hout + herr and version.split("-")[0] in vout + verr,
   "the packaged binary reads /etc/wsgate/wsgate.conf by default and has the package's version (%s)" % version,
   hout + herr + vout + verr)


def in_root(cmdline):
    """The unit's command line with its absolute paths under the scratch root."""
    argv = shlex.split(cmdline)
    return [os.path.join(root, a.lstrip("/")) if a.startswith("/") else a for a in argv]


settings = {}
for ln in unit.split("\n"):
    m = re.match(r"^([A-Za-z]+)=(.*)$", ln)
    if m:
        settings.setdefault(m.group(1), []).append(m.group(2))
conf = os.path.join(root, "etc/wsgate/wsgate.conf")
for key, extra in (("ExecStartPre", []), ("ExecStart", ["-t"])):
    line = settings.get(key, [""])[0]
    argv = in_root(line)
    if argv:
        argv = argv[:1] + extra + argv[1:]
    rc, out, err = run(argv) if argv else (None, "", "no %s" % key)
    ok(rc == 0 and argv[0] == binary and ("wsgate: configuration %s is ok" % conf) in out.splitlines(),
       "%s (%s) from the scratch root%s accepts the packaged configuration" % (key, line,
                                                                          " with -t" if extra else ""),
       "argv %r rc %r\nstdout %r\nstderr %r" % (argv, rc, out, err))

done()
