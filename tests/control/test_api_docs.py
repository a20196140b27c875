#!/usr/bin/env python3
"""Runs every curl example of docs/API.md against a real server: the socket
path is substituted, $TOKEN is an admin token, $KEY_ID a key uploaded first,
./my-public-key.asc a real key. Each example must succeed (HTTP < 400 and no
"success": false)."""
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from ctl_harness import SECRET, TestServer

DOC, SERVER, GEN_KEYS = sys.argv[1], sys.argv[2], sys.argv[3]
DOC_SOCKET = "/run/recvault/control.sock"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(claims):
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    sig = hmac.new(SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(sig)}"


def examples(text):
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    return [b for b in blocks if b.lstrip().startswith("curl")]


def main():
    found = examples(open(DOC).read())
    if len(found) < 8:
        print(f"expected at least 8 curl examples in {DOC}, found {len(found)}", file=sys.stderr)
        sys.exit(1)
    work = tempfile.mkdtemp(prefix="rvctl-doc-")
    failures = 0
    try:
        subprocess.run(["bash", GEN_KEYS, work], check=True, stdout=subprocess.DEVNULL)  # gpg's errors reach the log
        shutil.copy(os.path.join(work, "rsa.asc"), os.path.join(work, "my-public-key.asc"))
        with TestServer(SERVER) as srv:
            token = mint({"sub": "docs", "accounts": "*", "scope": "admin", "exp": int(time.time()) + 600})
            up = subprocess.run(
                ["curl", "-sS", "--fail-with-body", "--unix-socket", srv.socket, "-X", "POST",
                 "-H", "X-Account-ID: acc1", "-H", f"Authorization: Bearer {token}",
                 "--data-binary", "@" + os.path.join(work, "ed25519.asc"),
                 "http://localhost/v3/security/public-keys"], capture_output=True, text=True, check=True)
            env = dict(os.environ, TOKEN=token, KEY_ID=json.loads(up.stdout)["publicKeyId"])
            for block in found:
                cmd = block.replace(DOC_SOCKET, srv.socket).replace("curl ", "curl -sS --fail-with-body ", 1)
                p = subprocess.run(["bash", "-c", cmd], cwd=work, env=env, capture_output=True, text=True, timeout=30)
                ok = p.returncode == 0 and p.stdout.strip() != ""
                if ok and p.stdout.lstrip().startswith("{"):
                    ok = json.loads(p.stdout).get("success", True) is not False
                if not ok:
                    failures += 1
                    print(f"FAIL ({p.returncode}): {block}\n{p.stdout}{p.stderr}", file=sys.stderr)
            print(f"{len(found)} curl examples run, {failures} failed")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
