#!/usr/bin/env python3
"""After a PUT that carries a key and GETs that return it, the control
server's memory does not hold the key text any more: every readable mapping
of the live process (/proc/<pid>/mem: heap, thread stacks, libraries' data)
is searched for the key and for long pieces of it.

Usage: test_memory_scan.py RECVAULTCTL CONTROL_SERVER_MAIN"""
import base64
import json
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctl_harness import TestServer  # noqa: E402

CTL, SERVER = sys.argv[1], sys.argv[2]
CONFIG = "/api/v2/config/call_recording_encryption"


def request(sock_path, method, path, token, body=None):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(sock_path)
    data = body.encode() if body is not None else b""
    head = (f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            f"X-Account-ID: acc1\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
            "Connection: close\r\n\r\n")
    s.sendall(head.encode() + data)
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    return out


def mint(secret, scope):
    p = subprocess.run([CTL, "token", "mint", "--secret-file", secret, "--sub", "scan", "--accounts", "*",
                        "--scope", scope], capture_output=True, text=True, check=True)
    return p.stdout.strip()


def scan(pid, needles):
    hits = []
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for line in maps:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)\s+\S+\s+\S+\s+\S+\s*(.*)", line)
            start, end, perms, name = int(m[1], 16), int(m[2], 16), m[3], m[4]
            if "r" not in perms or name in ("[vvar]", "[vsyscall]"):
                continue
            try:
                mem.seek(start)
                data = mem.read(end - start)
            except OSError:
                continue
            for needle in needles:
                pos = data.find(needle)
                while pos >= 0:
                    hits.append(f"{needle[:12]!r}... at {start + pos:#x} in {name or 'anonymous'} ({perms})")
                    pos = data.find(needle, pos + 1)
    return hits


def main():
    key = "MemScanKey-" + os.urandom(12).hex() + "-distinctive-tail"
    old_key = "MemScanOld-" + os.urandom(12).hex() + "-distinctive-tail"
    with TestServer(SERVER) as srv:
        admin = mint(srv.secret, "admin")
        reader = mint(srv.secret, "read")
        for k, salt in ((old_key, "salt-one"), (key, "salt-two")):
            r = request(srv.socket, "PUT", CONFIG, admin, json.dumps({"enabled": True, "key": k, "salt": salt}))
            assert b" 200 " in r.split(b"\r\n", 1)[0] and k.encode() in r, r[:300]
        r = request(srv.socket, "GET", CONFIG, admin)
        assert key.encode() in r and old_key.encode() in r, r[:300]  # the admin sees both
        r = request(srv.socket, "GET", CONFIG, reader)
        assert key.encode() not in r and b'"keys_masked":true' in r, r[:300]
        time.sleep(0.3)  # the connection threads finish
        needles = []
        for k in (key, old_key):
            # The key text, long pieces of it, and its base64 form (what the
            # keystore seals, as the seed says).
            b64 = base64.b64encode(k.encode())
            needles += [k.encode(), k[:24].encode(), k[-24:].encode(), b64[:32]]
        hits = scan(srv.proc.pid, needles)
    if hits:
        print(f"key text found in the server's memory ({len(hits)} place(s)):", file=sys.stderr)
        for h in hits:
            print("  " + h, file=sys.stderr)
        sys.exit(1)
    print("no key text left in the control server's memory")


if __name__ == "__main__":
    main()
