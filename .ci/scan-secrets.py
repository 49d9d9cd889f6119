#!/usr/bin/env python3
"""After the whole suite (issue 16 §4): no secret of any test configuration, and none of
the simulator's connector secrets, may be found in any store the suite's bots left — every
SQLite file (with its WAL) under the temporary folder, every PostgreSQL database of the
suite's PostgreSQL run — nor in any log file they wrote. The canary test
(tests/integration/canary.rs) checks one process at `debug` in full (logs, chat
messages, metrics, store); this checks what every other test left behind.

Usage: scan-secrets.py MARKER [--postgres ADMIN_URL]
MARKER: a file touched before the suite; only what changed after it is scanned.
"""
import os
import subprocess
import sys
import tempfile

# Every secret the test configurations and the simulator hold (tests/integration/support,
# the tests' own bot tokens, src/simulator/seed.rs). A configuration file itself holds
# them by design and is not scanned.
CANARIES = [
    "test-signing-secret",
    "old-signing-secret",
    "mm-command-token-1",
    "mm-command-token-2",
    "xoxb-1234-s3cret",
    "xoxb-cnry-bot-token-88d1c4",
    "xoxb-faults",
    "xoxb-kill",
    "xoxb-locks",
    "xoxb-notify",
    "xoxb-once",
    "xoxb-replicas",
    "xoxb-test-token",
    "cnry-signing-5e1f0a7b9c",
    "cnrymmtoken3f9a0b2c7d",
    "cnry-product-pw-72be1",
    "cnry-typed-secret-a41c",
    "n3w-t0ken-value",
    "azure-SIM-client-secret-Q8~xv3",
    "00SIM-okta-api-token-7Gh2",
    "ldap-SIM-bind-pw-4kL9",
    "SIMULATED-----END PRIVATE KEY",
]
SKIPPED_SUFFIXES = (".toml",)


def found_in(data: bytes):
    return [c for c in CANARIES if c.encode() in data]


def scan_files(marker_time: float):
    findings, scanned = [], 0
    root = tempfile.gettempdir()
    for entry in os.scandir(root):
        if not entry.is_dir() or not entry.name.startswith("usersync-bot-"):
            continue
        for dirpath, _, files in os.walk(entry.path):
            for name in files:
                path = os.path.join(dirpath, name)
                if name.endswith(SKIPPED_SUFFIXES):
                    continue
                try:
                    if os.path.getmtime(path) < marker_time:
                        continue
                    with open(path, "rb") as f:
                        data = f.read()
                except OSError:
                    continue
                # A copy of the bot's own binary holds the simulator and its seed.
                if data.startswith(b"\x7fELF"):
                    continue
                scanned += 1
                for c in found_in(data):
                    findings.append(f"{path}: {c}")
    return findings, scanned


def scan_postgres(admin_url: str):
    findings, scanned = [], 0
    listed = subprocess.run(
        ["psql", admin_url, "-At", "-c",
         "SELECT datname FROM pg_database WHERE datname LIKE 'usersync_it_%'"],
        capture_output=True, text=True, check=True)
    base = admin_url.rsplit("/", 1)[0]
    for db in listed.stdout.split():
        dump = subprocess.run(["pg_dump", "--data-only", f"{base}/{db}"],
                              capture_output=True, check=True)
        scanned += 1
        for c in found_in(dump.stdout):
            findings.append(f"database {db}: {c}")
    return findings, scanned


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    marker_time = os.path.getmtime(sys.argv[1])
    findings, files = scan_files(marker_time)
    databases = 0
    if "--postgres" in sys.argv:
        more, databases = scan_postgres(sys.argv[sys.argv.index("--postgres") + 1])
        findings += more
    for f in findings:
        print(f"secret found: {f}")
    print(f"secrets scan: {len(CANARIES)} canaries in {files} files and {databases} databases: "
          f"{'none found' if not findings else str(len(findings)) + ' found'}")
    sys.exit(1 if findings else 0)


if __name__ == "__main__":
    main()
