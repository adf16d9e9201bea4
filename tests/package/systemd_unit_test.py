#!/usr/bin/env python3
"""packaging/cardbureau.service: `systemd-analyze verify` is clean, the
settings issue 22 asks for are there, and the offline security review stays
at or under an exposure of 2.0 ("OK").

verify resolves ExecStart= and the dependencies in a root: a temp root holds
the host's system units, the unit under test and an executable at
/usr/bin/cardbureau. A copy with a misspelt key must make verify complain, so
a verify that silently reads nothing cannot pass.
"""
import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FAILURES = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILURES.append(what)


def verify(root):
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", f"--root={root}",
                        "cardbureau.service"], capture_output=True, text=True, timeout=120)
    return r.returncode, (r.stdout + r.stderr).strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("unit")
    unit_path = Path(ap.parse_args().unit)
    text = unit_path.read_text()

    service = text.split("[Service]", 1)[1].split("\n[", 1)[0]
    settings = {}
    for line in service.splitlines():
        if line and not line.startswith("#") and "=" in line:
            k, _, v = line.partition("=")
            settings.setdefault(k.strip(), []).append(v.strip())
    want = {
        "User": "cardbureau",
        "ExecStart": "/usr/bin/cardbureau serve --config /etc/cardbureau/serve.json",
        "Restart": "on-failure",
        "ProtectSystem": "strict",
        "ReadWritePaths": "/var/lib/cardbureau",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "ProtectHome": "yes",
        "CapabilityBoundingSet": "",
        "StandardError": "journal",
    }
    for k, v in want.items():
        check(settings.get(k) == [v], f"{k}={v} (have {settings.get(k)})")
    check(settings.get("Type", [""])[0] in ("simple", "notify"), "Type=simple or notify")
    check(re.search(r"^WantedBy=multi-user.target$", text, re.M), "WantedBy=multi-user.target")

    root = Path(tempfile.mkdtemp(prefix="cb-unit-test-"))
    try:
        units = root / "lib/systemd/system"
        shutil.copytree("/lib/systemd/system", units, symlinks=True)
        (root / "usr/bin").mkdir(parents=True)
        (root / "usr/bin/cardbureau").write_text("#!/bin/sh\nexit 0\n")
        (root / "usr/bin/cardbureau").chmod(0o755)

        (units / "cardbureau.service").write_text(text.replace("ProtectHome=", "ProtectHom="))
        rc, out = verify(root)
        check("ProtectHom" in out, f"negative control: verify reports a misspelt key ({out})")

        shutil.copy(unit_path, units / "cardbureau.service")
        rc, out = verify(root)
        check(rc == 0 and not out, f"systemd-analyze verify is clean (rc {rc}: {out})")

        r = subprocess.run(["systemd-analyze", "security", "--offline=yes", f"--root={root}",
                            "--threshold=20", "cardbureau.service"],
                           capture_output=True, text=True, timeout=120)
        level = re.search(r"Overall exposure level for cardbureau.service: ([\d.]+)", r.stdout)
        check(r.returncode == 0 and level and float(level.group(1)) <= 2.0,
              f"offline security review: exposure {level.group(1) if level else '?'} <= 2.0 "
              f"(rc {r.returncode})")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"{len(FAILURES)} failure(s)")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
