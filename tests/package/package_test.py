#!/usr/bin/env python3
"""The Debian package, built and run the way an operator gets it (issue 22).

1. cpack builds cardbureau_<version>_amd64.deb from THIS build tree (the
   `make test` tree is a Debug ASan build: the packaged binary is that ASan
   binary, stripped, so Depends also lists libasan8/libubsan1 here; `make
   package` packages the Release binary with the same rules). gzip instead
   of xz keeps the test quick; nothing else differs from `make package`.
2. `dpkg-deb -f` control fields (Depends computed by dpkg-shlibdeps plus
   adduser/opencv-data, Recommends fonts/pcscd/vpcd), `dpkg-deb -c` file list
   (every web/ and template file, unit, conffile, docs; root-owned; nothing
   from fixtures or the build tree), `dpkg-deb -e` control scripts and
   conffiles; postinst/postrm run against a $DPKG_ROOT with adduser, getent,
   chown, dpkg-statoverride and systemctl replaced by recorders.
3. `dpkg-deb -x` into a temp root; the installed binary runs from there with
   the source and build trees hidden (a private mount namespace with an empty
   tmpfs over them; as root, which CI is): --version, `serve --config
   <root>/etc/cardbureau/serve.json --http` serves / and app.js byte for byte
   from <root>/usr/share/cardbureau/web (an edit there shows up in the
   response), `render` finds its template in <root>/usr/share/cardbureau/
   templates and refuses to sign without a key (no test-key fallback); with
   the installed web/ folder gone, `serve --http` refuses to start
   (INVALID_CONFIG http.web, exit 1) instead of serving JSON 404s; so do
   `dashboard-demo --web /nonexistent/web` and `serve --web /nonexistent/web`.
4. `systemd-analyze verify` on the unit as unpacked, in the package root.
"""
import argparse
import json
import os
import queue
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

FAILURES = []


def check(cond, what):
    if cond:
        print(f"ok   {what}")
    else:
        print(f"FAIL {what}")
        FAILURES.append(what)
    return cond


def run(cmd, timeout=300, **kw):
    """subprocess.run with output in files and its own process group, so a
    timeout kills every descendant and never waits on a pipe they hold."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, start_new_session=True,
                                **kw)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = f"timeout after {timeout} s"
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(cmd, rc, out.read(), err.read())


def must(cmd, **kw):
    r = run(cmd, **kw)
    if r.returncode != 0:
        print(f"FATAL: {' '.join(map(str, cmd))} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
        sys.exit(1)
    return r


def inside(p, d):
    p, d = Path(p).resolve(), Path(d).resolve()
    return p == d or d in p.parents


class Installed:
    """Runs the unpacked binary with the source and build trees hidden."""

    def __init__(self, exe, hide, env, cwd):
        self.exe, self.hide, self.env, self.cwd = str(exe), hide, env, cwd

    def argv(self, args):
        if not self.hide:
            return [self.exe] + list(args)
        script = ""
        for d in self.hide:
            q = shlex.quote(str(d))
            script += f"mount -t tmpfs -o size=64k,mode=0755 cb-hidden {q} || exit 97; "
            script += f"[ -z \"$(ls -A {q})\" ] || exit 98; "
        script += 'exec "$@"'
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                self.exe] + list(args)

    def run(self, args, timeout=120):
        return run(self.argv(args), env=self.env, cwd=self.cwd, timeout=timeout)

    def popen(self, args):
        return subprocess.Popen(self.argv(args), env=self.env, cwd=self.cwd, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def lines_of(stream, q):
    for line in iter(stream.readline, ""):
        q.put(line)
    q.put(None)


def wait_for_line(q, pattern, deadline, seen):
    while time.monotonic() < deadline:
        try:
            line = q.get(timeout=max(0.05, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            return None
        seen.append(line)
        m = re.search(pattern, line)
        if m:
            return m
    return None


def http_get(url):
    with urllib.request.urlopen(url, timeout=20) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read()


def control_fields(deb):
    text = must(["dpkg-deb", "-f", str(deb)]).stdout
    fields, key = {}, None
    for line in text.splitlines():
        if line.startswith(" ") and key:
            fields[key] += "\n" + line
        elif ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--cpack", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--git-commit-file", required=True, help="written by cmake/Packaging.cmake")
    args = ap.parse_args()
    args.git_commit = Path(args.git_commit_file).read_text().strip()
    build, source = Path(args.build_dir).resolve(), Path(args.source_dir).resolve()

    tmp = Path(tempfile.mkdtemp(prefix="cb-package-test-"))
    if inside(tmp, source) or inside(tmp, build):
        print(f"FATAL: temp dir {tmp} is inside the source or build tree")
        return 1
    try:
        return test(args, build, source, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def example_config_documented(source):
    """packaging/serve.json is the example in docs/config.md, every key documented."""
    example = json.loads((source / "packaging/serve.json").read_text())
    doc = (source / "docs/config.md").read_text()
    block = re.search(r"## Example.*?```json\n(.*?)```", doc, re.S)
    check(block and json.loads(block.group(1)) == example,
          "docs/config.md's first example is packaging/serve.json")
    table = set(re.findall(r"^\| `([a-z_.]+)` \|", doc, re.M))

    def keys(obj, prefix=""):
        for k, v in obj.items():
            if isinstance(v, dict):
                yield from keys(v, prefix + k + ".")
            else:
                yield prefix + k
    missing = [k for k in keys(example) if k not in table]
    check(not missing, f"every setting of serve.json is in docs/config.md's table {missing}")


def test(args, build, source, tmp):
    arch = must(["dpkg", "--print-architecture"]).stdout.strip()
    example_config_documented(source)

    # 1. Build the package from this build tree.
    t0 = time.monotonic()
    # CMAKE_SKIP_INSTALL_ALL_DEPENDENCY (cmake/Packaging.cmake): cpack installs
    # what is built and never rebuilds the tree.
    must([args.cpack, "-G", "DEB", "--config", str(build / "CPackConfig.cmake"), "-B",
          str(tmp / "cpack"), "-D", "CPACK_DEBIAN_COMPRESSION_TYPE=gzip"], timeout=300)
    deb = tmp / "cpack" / f"cardbureau_{args.version}_{arch}.deb"
    check(deb.is_file(), f"cpack wrote {deb.name} ({time.monotonic() - t0:.1f} s)")
    if not deb.is_file():
        print(list((tmp / "cpack").iterdir()))
        return 1

    # 2a. Control fields.
    f = control_fields(deb)
    check(f.get("Package") == "cardbureau", "Package: cardbureau")
    check(f.get("Version") == args.version, f"Version: {args.version}")
    check(f.get("Architecture") == arch, f"Architecture: {arch}")
    check(bool(f.get("Maintainer")), "Maintainer set")
    check(f.get("Description", "").startswith("smart-card print bureau server"), "Description")
    depends = f.get("Depends", "")
    print(f"     Depends: {depends}")
    # dpkg-shlibdeps ran: the libraries the binary links, with versions.
    for pkg in [r"libzmq5 \(>=", r"libsqlite3-0 \(>=", r"libpcsclite1 \(>=", r"libssl3 \(>=",
                r"libopencv-core\d+\S* \(>=", r"libqrencode4 \(>=", r"libhpdf-\S+ \(>=",
                r"libc6 \(>=", r"libstdc\+\+6 \(>=", r"\badduser\b", r"\bopencv-data\b"]:
        check(re.search(pkg, depends), f"Depends has {pkg}")
    recommends = f.get("Recommends", "")
    for pkg in ["pcscd", "vsmartcard-vpcd", "fonts-noto-cjk", "fonts-hanazono"]:
        check(re.search(rf"\b{pkg}\b", recommends), f"Recommends has {pkg}")
    check("pcscd" not in depends, "pcscd is not a hard dependency")

    # 2b. File list.
    listing = must(["dpkg-deb", "-c", str(deb)]).stdout.splitlines()
    entries = {}
    for line in listing:
        parts = line.split(None, 5)
        path = parts[5].split(" -> ")[0]
        entries[path.rstrip("/") if path != "./" else path] = (parts[0], parts[1])
    expected = {"./usr/bin/cardbureau", "./etc/cardbureau/serve.json",
                "./lib/systemd/system/cardbureau.service",
                "./usr/share/doc/cardbureau/copyright", "./usr/share/doc/cardbureau/README.md",
                "./usr/share/doc/cardbureau/install.md", "./usr/share/doc/cardbureau/config.md"}
    for p in sorted((source / "web").rglob("*")):
        if p.is_file():
            expected.add("./usr/share/cardbureau/web/" + str(p.relative_to(source / "web")))
    for p in sorted((source / "layout/templates").rglob("*")):
        if p.is_file():
            expected.add("./usr/share/cardbureau/templates/" +
                         str(p.relative_to(source / "layout/templates")))
    for p in sorted(expected):
        check(p in entries, f"package contains {p}")
    mode, owner = entries.get("./usr/bin/cardbureau", ("", ""))
    check(mode == "-rwxr-xr-x" and owner == "root/root", f"/usr/bin/cardbureau {mode} {owner}")
    check(all(o == "root/root" for _, o in entries.values()), "every entry owned by root/root")
    allowed = ("./usr/bin/cardbureau", "./usr/share/cardbureau", "./usr/share/doc/cardbureau",
               "./etc/cardbureau", "./lib/systemd/system/cardbureau.service")
    parents = {"./", "./usr", "./usr/bin", "./usr/share", "./usr/share/doc", "./etc", "./lib",
               "./lib/systemd", "./lib/systemd/system"}
    stray = [p for p in entries
             if p not in parents and not any(p == a or p.startswith(a + "/") for a in allowed)
             or re.search(r"fixtures|_test|\.git|/build/", p)]
    check(not stray, f"nothing else in the package {stray}")

    # 2c. Control scripts and conffiles.
    ctl = tmp / "control"
    must(["dpkg-deb", "-e", str(deb), str(ctl)])
    check((ctl / "conffiles").read_text().split() == ["/etc/cardbureau/serve.json"],
          "conffiles: /etc/cardbureau/serve.json")
    for s in ["postinst", "prerm", "postrm"]:
        m = stat.S_IMODE((ctl / s).stat().st_mode) if (ctl / s).exists() else 0
        check(m == 0o755, f"{s} is 0755 (is {oct(m)})")
    maintainer_scripts(ctl, tmp)

    # 3. Unpack and run the installed binary away from the build and source trees.
    root = tmp / "root"
    must(["dpkg-deb", "-x", str(deb), str(root)])
    exe = root / "usr/bin/cardbureau"
    share = root / "usr/share/cardbureau"
    hide = [source] + ([build] if not inside(build, source) else [])
    probe = run(["unshare", "--mount", "--propagation", "private", "true"])
    if not check(probe.returncode == 0 or os.environ.get("CI") != "true",
                 "a private mount namespace (unshare) hides the trees in CI"):
        return 1
    if probe.returncode != 0:
        print("note: no mount namespace here (not root?): the installed binary runs from "
              f"{root}, outside the build tree, so its lookup cannot reach the source tree")
        hide = []
    # Inputs the installed run needs, copied out of the source tree.
    inputs = tmp / "inputs"
    inputs.mkdir()
    for rel in ["fixtures/jobs/valid-junior-reissue.json", "fixtures/photos/astronaut.png",
                "fixtures/keys/qr-test-ed25519.pem", "tests/lsan.supp"]:
        shutil.copy(source / rel, inputs / Path(rel).name)
    # A signing key is a secret: 0600 or the program refuses it (git checks
    # fixtures out 0644).
    os.chmod(inputs / "qr-test-ed25519.pem", 0o600)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CARDBUREAU_")}
    env["LSAN_OPTIONS"] = f"suppressions={inputs / 'lsan.supp'}:print_suppressions=0"
    cb = Installed(exe, hide, env, str(tmp))

    r = cb.run(["--version"])
    want = f"cardbureau {args.version} (git {args.git_commit})"
    check(r.returncode == 0 and r.stdout.strip() == want,
          f"--version prints '{want}' (got {r.returncode} '{r.stdout.strip()}' {r.stderr[-300:]})")
    check(re.fullmatch(r"[0-9a-f]{12}|unknown", args.git_commit), "commit is 12 hex or unknown")
    if (source / ".git").exists():
        check(args.git_commit != "unknown" and
              run(["git", "-C", str(source), "cat-file", "-e", args.git_commit + "^{commit}"])
              .returncode == 0, f"{args.git_commit} is a commit of the source checkout")

    # A dashboard token made by the installed binary.
    r = cb.run(["dashboard-token", "--name", "pkg-test", "--role", "admin"])
    m = re.search(r"^entry: (.*)$", r.stdout, re.M)
    if not check(r.returncode == 0 and m, "dashboard-token"):
        print(r.stdout, r.stderr)
        return 1
    tokens = tmp / "tokens.json"
    tokens.write_text('{"tokens": [' + m.group(1) + "]}")
    tokens.chmod(0o600)
    data = tmp / "data"
    serve_args = ["serve", "--config", str(root / "etc/cardbureau/serve.json"),
                  "--centre", "tcp://127.0.0.1:9", "--data", str(data), "--production", "none",
                  "--http", "127.0.0.1:0", "--tokens", str(tokens)]

    proc = cb.popen(serve_args)
    q = queue.Queue()
    threading.Thread(target=lines_of, args=(proc.stderr, q), daemon=True).start()
    seen = []
    m = wait_for_line(q, r"dashboard on http://(127\.0\.0\.1:\d+)", time.monotonic() + 120, seen)
    if check(m, "installed serve --config <root>/etc/cardbureau/serve.json --http starts"):
        base = f"http://{m.group(1)}"
        status, ctype, body = http_get(base + "/")
        index = (share / "web/index.html").read_bytes()
        check(status == 200 and ctype.startswith("text/html") and body == index,
              f"GET / is the installed index.html ({status} {ctype}, {len(body)} bytes)")
        status, _, body = http_get(base + "/app.js")
        check(status == 200 and body == (share / "web/app.js").read_bytes(),
              "GET /app.js is the installed app.js")
        marker = b"<!-- served from the installed share folder -->\n"
        (share / "web/index.html").write_bytes(index + marker)
        _, _, body = http_get(base + "/")
        check(body.endswith(marker), "an edit of <root>/usr/share/cardbureau/web shows up in GET /")
        (share / "web/index.html").write_bytes(index)
        proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    while wait_for_line(q, r"$^", time.monotonic() + 0.2, seen) is not None:
        pass
    check(rc == 0, f"serve stops cleanly on SIGTERM (exit {rc})")
    if FAILURES:
        print("serve stderr:\n" + "".join(seen)[-3000:])

    # The template from <root>/usr/share/cardbureau/templates; no test-key fallback.
    out = tmp / "render"
    r = cb.run(["render", str(inputs / "valid-junior-reissue.json"), "--photo",
                str(inputs / "astronaut.png"), "--out", str(out), "--sign-key",
                str(inputs / "qr-test-ed25519.pem"), "--today", "2026-11-25"], timeout=180)
    check(r.returncode == 0 and (out / "front.png").is_file() and (out / "proof.pdf").is_file(),
          f"installed render finds the installed template (exit {r.returncode}) {r.stderr[-500:]}")
    r = cb.run(["render", str(inputs / "valid-junior-reissue.json"), "--photo",
                str(inputs / "astronaut.png"), "--out", str(tmp / "render2")])
    check(r.returncode == 2 and "INVALID_CONFIG sign-key" in r.stderr,
          f"installed render without a key refuses, no test-key fallback ({r.returncode} "
          f"{r.stderr.strip()[-300:]})")

    # No page, no dashboard: refused at start-up with a code, never JSON 404s.
    shutil.move(str(share / "web"), str(tmp / "web-aside"))
    r = cb.run(serve_args, timeout=120)
    check(r.returncode == 1 and "INVALID_CONFIG http.web" in r.stderr
          and str(share / "web") in r.stderr and str(source) not in r.stderr,
          f"installed serve --http without its web/ refuses (exit {r.returncode}: "
          f"{r.stderr.strip()[-400:]})")
    shutil.move(str(tmp / "web-aside"), str(share / "web"))
    r = cb.run(serve_args + ["--web", "/nonexistent/web"], timeout=120)
    check(r.returncode == 1 and "INVALID_CONFIG http.web" in r.stderr
          and "/nonexistent/web/index.html" in r.stderr,
          f"serve --web /nonexistent/web refuses (exit {r.returncode}: {r.stderr.strip()[-300:]})")
    r = cb.run(["dashboard-demo", "--web", "/nonexistent/web", "--tokens", str(tokens), "--data",
                str(tmp / "demo"), "--http", "127.0.0.1:0", "--seconds", "30"], timeout=120)
    check(r.returncode == 1 and "INVALID_CONFIG http.web" in r.stderr and "listening" not in r.stdout,
          f"dashboard-demo --web /nonexistent/web refuses (exit {r.returncode}: "
          f"{r.stderr.strip()[-300:]})")

    # 4. The unit as packaged, verified inside the package root.
    units = root / "lib/systemd/system"
    for u in Path("/lib/systemd/system").iterdir():
        if not (units / u.name).exists():
            if u.is_symlink():
                (units / u.name).symlink_to(os.readlink(u))
            elif u.is_file():
                shutil.copy(u, units / u.name)
    r = run(["systemd-analyze", "verify", "--man=no", f"--root={root}", "cardbureau.service"])
    check(r.returncode == 0 and not (r.stdout + r.stderr).strip(),
          f"systemd-analyze verify of the packaged unit is clean ({r.returncode}: "
          f"{(r.stdout + r.stderr).strip()})")

    print(f"{len(FAILURES)} failure(s)")
    return 1 if FAILURES else 0


def maintainer_scripts(ctl, tmp):
    """postinst/postrm against $DPKG_ROOT, system-changing commands recorded."""
    shims, log = tmp / "shims", tmp / "calls.log"
    shims.mkdir()
    for name in ["adduser", "chown", "dpkg-statoverride", "systemctl", "deb-systemd-helper"]:
        (shims / name).write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n'
                                  + ("exit 1\n" if name == "dpkg-statoverride" else "exit 0\n"))
        (shims / name).chmod(0o755)
    # getent: the user exists once adduser ran.
    (shims / "getent").write_text(f'#!/bin/sh\ngrep -q "^adduser" "{log}" 2>/dev/null\n')
    (shims / "getent").chmod(0o755)
    droot = tmp / "dpkgroot"
    droot.mkdir()
    env = dict(os.environ, PATH=f"{shims}:{os.environ['PATH']}", DPKG_ROOT=str(droot))

    r = run([str(ctl / "postinst"), "configure", ""], env=env)
    calls = log.read_text().splitlines() if log.exists() else []
    check(r.returncode == 0, f"postinst configure (first install) exits 0 {r.stderr}")
    add = [c for c in calls if c.startswith("adduser")]
    check(len(add) == 1 and "--system" in add[0] and add[0].endswith(" cardbureau"),
          f"postinst creates the cardbureau system user ({add})")
    for d in ["var/lib/cardbureau", "etc/cardbureau"]:
        p = droot / d
        check(p.is_dir() and stat.S_IMODE(p.stat().st_mode) == 0o750, f"postinst: /{d} is 0750")
        check(f"chown cardbureau:cardbureau {p}" in calls, f"postinst: /{d} owned by cardbureau")
    check(not any(c.startswith("systemctl") for c in calls),
          "postinst does not enable or start the service on a first install")
    r = run([str(ctl / "postinst"), "configure", "0.0.9"], env=env)
    calls = log.read_text().splitlines()
    check(r.returncode == 0 and len([c for c in calls if c.startswith("adduser")]) == 1,
          "postinst on upgrade keeps the existing user")

    (droot / "var/lib/cardbureau/bureau.db").write_text("jobs")
    r = run([str(ctl / "postrm"), "purge"], env=env)
    check(r.returncode == 0 and (droot / "var/lib/cardbureau/bureau.db").exists()
          and not (droot / "etc/cardbureau").exists(),
          "postrm purge keeps the job store, removes the empty /etc/cardbureau")


if __name__ == "__main__":
    sys.exit(main())
