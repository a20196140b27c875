#!/usr/bin/env python3
"""recvaultctl end to end: the real binary against a real server process on a
real socket, checking output and exit codes (0 ok, 1 server refused, 2 usage,
3 daemon not running, 4 permission denied)."""
import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile

from ctl_harness import TestServer

CTL, SERVER, GEN_KEYS = sys.argv[1], sys.argv[2], sys.argv[3]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def ctl(*args, env=None, input=None):
    e = dict(os.environ)
    for k in ("RECVAULT_SOCKET", "RECVAULT_TOKEN", "RECVAULT_ACCOUNT"):
        e.pop(k, None)
    e.update(env or {})
    p = subprocess.run([CTL, *args], capture_output=True, text=True, env=e, input=input, timeout=30)
    return p.returncode, p.stdout, p.stderr


def main():
    keys_dir = tempfile.mkdtemp(prefix="rvctl-keys-")
    try:
        subprocess.run(["bash", GEN_KEYS, keys_dir], check=True, stdout=subprocess.DEVNULL)  # gpg's errors reach the log
        with TestServer(SERVER) as srv:
            run(srv, keys_dir)
    finally:
        shutil.rmtree(keys_dir, ignore_errors=True)
    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        sys.exit(1)
    print("all recvaultctl checks passed")


def run(srv, keys_dir):
    rc, admin, _ = ctl("token", "mint", "--secret-file", srv.secret, "--sub", "ops", "--accounts", "acc1,acc2",
                       "--scope", "admin", "--ttl", "600")
    admin = admin.strip()
    check(rc == 0 and admin.count(".") == 2, "token mint admin")
    rc, reader, _ = ctl("token", "mint", "--secret-file", srv.secret, "--sub", "auditor", "--accounts", "*")
    reader = reader.strip()
    check(rc == 0, "token mint read")
    base = ["--socket", srv.socket, "--token", admin, "-a", "acc1"]

    rc, out, _ = ctl(*base, "config", "get")
    check(rc == 0 and "never configured" in out, f"config get fresh: {rc} {out}")
    rc, out, _ = ctl(*base, "config", "get", "--json")
    check(rc == 0 and json.loads(out) == {"success": True, "config": {}}, "config get --json fresh")

    rc, out, _ = ctl(*base, "config", "enable", "--json")
    cfg = json.loads(out)["config"]
    check(rc == 0 and re.fullmatch(r"[0-9a-f]{64}", cfg["key"]) and cfg["key_version"] == 1, "config enable")
    rc, out, _ = ctl(*base, "config", "get")
    check(rc == 0 and "enabled:        true" in out and cfg["key"] not in out and cfg["salt"] not in out,
          "human output masks key and salt")
    rc, out, _ = ctl(*base, "config", "get", "--show-secrets")
    check(rc == 0 and cfg["key"] in out, "--show-secrets shows the key")

    key = "operator_chosen_key_value_with_enough_length_42"
    rc, out, _ = ctl(*base, "config", "set", "--key", key, "--salt", "operator-salt-value-001", "--json")
    cfg2 = json.loads(out)["config"]
    check(rc == 0 and cfg2["key_version"] == 2 and cfg2["historical_keys"] == {"1": cfg["key"]}, "config set rotates")
    rc, out, _ = ctl(*base, "config", "set", "--key-file", "-", "--json", input=key + "\n")
    check(rc == 0 and json.loads(out)["config"]["key_version"] == 2, "config set --key-file - (same key: no new version)")

    rc, out, err = ctl(*base, "config", "set", "--key", "short")
    check(rc == 1 and "HTTP 400" in err and "short" not in err.replace("recvaultctl", ""), f"weak key refused: {rc} {err}")
    rc, out, err = ctl(*base, "config", "set", "--salt", "default_salt")
    check(rc == 1 and "default_salt" in err, f"default_salt refused: {err}")

    rc, out, _ = ctl(*base, "config", "rotate", "--json")
    cfg3 = json.loads(out)["config"]
    check(rc == 0 and cfg3["key_version"] == 3 and len(cfg3["historical_keys"]) == 2
          and re.fullmatch(r"[0-9a-f]{64}", cfg3["key"]) and len(cfg3["salt"]) == 24, "config rotate")
    rc, out, err = ctl(*base[:4], "-a", "acc2", "config", "rotate")
    check(rc == 1 and "not configured" in err, "rotate on an unconfigured account")

    rc, out, _ = ctl(*base, "config", "disable", "--json")
    off = json.loads(out)["config"]
    check(rc == 0 and off["enabled"] is False and off["key"] == cfg3["key"], "config disable keeps the key")
    rc, out, _ = ctl(*base, "config", "enable", "--json")
    check(rc == 0 and json.loads(out)["config"]["key"] == cfg3["key"], "config enable reuses the key")

    # Public keys.
    rsa = os.path.join(keys_dir, "rsa.asc")
    rc, out, _ = ctl(*base, "keys", "upload", rsa)
    kid = out.strip()
    check(rc == 0 and re.fullmatch(r"[0-9a-f-]{36}", kid), f"keys upload: {rc} {out}")
    rc, out, _ = ctl(*base, "keys", "list")
    check(rc == 0 and out.split() == [kid], "keys list")
    rc, out, _ = ctl(*base, "keys", "show", kid)
    check(rc == 0 and out == open(rsa).read(), "keys show byte for byte")
    rc, out, err = ctl(*base, "keys", "upload", os.path.join(keys_dir, "signonly.asc"))
    check(rc == 1 and "encryption" in err, f"sign-only key refused: {err}")
    rc, _, _ = ctl(*base, "config", "set", "--public-key-id", kid)
    check(rc == 0, "config set --public-key-id")
    rc, out, err = ctl(*base, "keys", "delete", kid)
    check(rc == 1 and "HTTP 409" in err, f"delete of a key in use: {rc} {err}")
    rc, _, _ = ctl(*base, "config", "set", "--public-key-id", "")
    check(rc == 0, "clear public key id")
    rc, out, _ = ctl(*base, "keys", "delete", kid)
    check(rc == 0, "keys delete")

    rc, out, _ = ctl(*base, "status")
    check(rc == 0 and "test-server" in out, "status")

    # Token sources and environment.
    tfile = os.path.join(srv.dir, "token")
    with open(tfile, "w") as f:
        f.write(admin + "\n")
    rc, _, _ = ctl("--socket", srv.socket, "--token-file", tfile, "-a", "acc1", "config", "get")
    check(rc == 0, "--token-file")
    rc, _, _ = ctl("config", "get", env={"RECVAULT_SOCKET": srv.socket, "RECVAULT_TOKEN": admin,
                                         "RECVAULT_ACCOUNT": "acc1"})
    check(rc == 0, "RECVAULT_SOCKET / RECVAULT_TOKEN / RECVAULT_ACCOUNT")

    # A read token sees the config with keys masked, and the summary says so.
    rc, out, _ = ctl("--socket", srv.socket, "--token", reader, "-a", "acc1", "config", "get", "--show-secrets")
    check(rc == 0 and "masked" in out and cfg3["key"] not in out, f"read token: keys masked in the summary: {out}")
    rc, out, _ = ctl("--socket", srv.socket, "--token", reader, "-a", "acc1", "config", "get", "--json")
    masked = json.loads(out)
    check(rc == 0 and masked["keys_masked"] is True and masked["config"]["key"] is None
          and all(v is None for v in masked["config"]["historical_keys"].values())
          and cfg3["key"] not in out, f"read token: keys masked in --json: {out}")

    # token mint: iat always, iss / aud on request, and the lifetime.
    def claims_of(token):
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    rc, out, _ = ctl("token", "mint", "--secret-file", srv.secret, "--sub", "x", "--accounts", "*",
                     "--iss", "ops-idp", "--aud", "recvaultd", "--ttl", "120")
    c = claims_of(out.strip())
    check(rc == 0 and c["iss"] == "ops-idp" and c["aud"] == "recvaultd" and c["exp"] - c["iat"] == 120,
          f"token mint --iss --aud --ttl: {c}")
    rc, out, _ = ctl("token", "mint", "--secret-file", srv.secret, "--sub", "x", "--accounts", "*",
                     "--aud", "a", "--aud", "b")
    check(rc == 0 and claims_of(out.strip())["aud"] == ["a", "b"], "token mint: repeated --aud is an array")
    rc, out, _ = ctl("token", "mint", "--secret-file", srv.secret, "--sub", "x", "--accounts", "*",
                     "--scope", "admin", "--ttl", str(30 * 24 * 3600))
    rc, _, err = ctl("--socket", srv.socket, "--token", out.strip(), "-a", "acc1", "config", "get")
    check(rc == 1 and "HTTP 401" in err and "lifetime" in err, f"a 30-day token is refused: {rc} {err}")
    os.chmod(srv.secret, 0o644)
    rc, _, err = ctl("token", "mint", "--secret-file", srv.secret, "--sub", "x", "--accounts", "*")
    os.chmod(srv.secret, 0o600)
    check(rc == 5 and "chmod 600" in err, f"token mint refuses a secret others can read: {rc} {err}")

    # Refusals and usage errors.
    rc, _, err = ctl("--socket", srv.socket, "--token", reader, "-a", "acc1", "config", "enable")
    check(rc == 1 and "HTTP 403" in err, "read token cannot change")
    rc, _, err = ctl("--socket", srv.socket, "--token", admin, "-a", "acc9", "config", "get")
    check(rc == 1 and "HTTP 403" in err, "token without the account")
    rc, _, err = ctl("--socket", srv.socket, "--token", "garbage", "-a", "acc1", "config", "get")
    check(rc == 1 and "HTTP 401" in err, "bad token")
    rc, _, err = ctl("--socket", srv.socket, "-a", "acc1", "config", "get")
    check(rc == 2 and "no token" in err, "no token is a usage error")
    rc, _, err = ctl("--socket", srv.socket, "--token", admin, "config", "get")
    check(rc == 2 and "no account" in err, "no account is a usage error")
    rc, _, _ = ctl("config", "frobnicate")
    check(rc == 2, "unknown subcommand")
    rc, _, _ = ctl("token", "mint", "--secret-file", srv.secret, "--sub", "x", "--accounts", "*", "--scope", "root")
    check(rc == 2, "bad scope")

    # Daemon not running: no socket, and a stale socket nobody listens on.
    rc, _, err = ctl("--socket", os.path.join(srv.dir, "missing.sock"), "--token", admin, "-a", "acc1", "config", "get")
    check(rc == 3 and "running" in err, f"missing socket: {rc} {err}")
    stale = os.path.join(srv.dir, "stale.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(stale)
    s.close()
    rc, _, err = ctl("--socket", stale, "--token", admin, "-a", "acc1", "config", "get")
    check(rc == 3, f"connection refused: {rc} {err}")

    # Permission denied (needs root to drop to nobody; the temp dir is 0700).
    if os.geteuid() == 0 and shutil.which("setpriv"):
        p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", CTL,
                            "--socket", srv.socket, "--token", admin, "-a", "acc1", "config", "get"],
                           capture_output=True, text=True, timeout=30)
        check(p.returncode == 4 and "permission denied" in p.stderr, f"permission denied: {p.returncode} {p.stderr}")

    # The audit log saw it all, without key material.
    audit = open(srv.audit).read()
    check(key not in audit and cfg["key"] not in audit and cfg3["key"] not in audit, "no keys in the audit log")
    check('"action":"config.update"' in audit and '"subject":"ops"' in audit, "audit log records updates")


if __name__ == "__main__":
    main()
