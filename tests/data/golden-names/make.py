#!/usr/bin/env python3
"""Makes the golden tree of encrypted names (docs/FORMAT.md §12), and checks it.

An independent implementation of the name scheme (Python's `cryptography`:
AESSIV, HKDF; hashlib's scrypt; none of recvault's C++), so that the
specification is checked too. The tree is a backing account directory as
recvaultd writes it for an account with name_encryption, through one key
rotation: names of key versions 1 and 2, a plain name from before the
setting, an encrypted symlink target, two directories with their IV files.
Its recordings are copies of golden files of ../golden/.

Usage: make.py          write tree/ and manifest.json (never over an existing tree)
       make.py --check  decrypt every name of tree/ and compare with manifest.json
"""
import base64
import hashlib
import json
import os
import shutil
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "..", "golden")
DIRIV = ".recvault-diriv"


def keys():
    with open(os.path.join(GOLDEN, "config.json")) as f:
        c = json.load(f)["config"]
    out = {c["key_version"]: (c["key"], c["salt"])}
    for v, k in c["historical_keys"].items():
        out[int(v)] = (k, c["historical_salts"][v])
    return out


def name_key(version):
    key, salt = keys()[version]
    vk = hashlib.scrypt(key.encode(), salt=salt.encode(), n=2**15, r=8, p=1, dklen=32, maxmem=2**26)
    return HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=b"recvault/1 names AES-256-SIV").derive(vk)


def pad16(b):
    return b + b"\0" * (-len(b) % 16)


def b64url(b):
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def unb64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def enc_name(version, iv, name):
    ct = AESSIV(name_key(version)).encrypt(pad16(name.encode()), [b"recvault/1 name", iv])
    return "~%d~%s" % (version, b64url(ct))


def enc_target(version, nonce, target):
    ct = AESSIV(name_key(version)).encrypt(pad16(target.encode()), [b"recvault/1 symlink", nonce])
    return "~%d~%s" % (version, b64url(nonce + ct))


def split(backing):
    if not backing.startswith("~") or backing.count("~") < 2:
        return None
    _, v, rest = backing.split("~", 2)
    return int(v), unb64url(rest)


def dec_name(iv, backing):
    form = split(backing)
    if form is None:
        return backing
    v, data = form
    return AESSIV(name_key(v)).decrypt(data, [b"recvault/1 name", iv]).rstrip(b"\0").decode()


def dec_target(target):
    form = split(target)
    if form is None:
        return target
    v, data = form
    return AESSIV(name_key(v)).decrypt(data[16:], [b"recvault/1 symlink", data[:16]]).rstrip(b"\0").decode()


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def make():
    tree = os.path.join(HERE, "tree")
    if os.path.exists(tree):
        sys.exit("tree/ exists: golden trees are never regenerated")
    os.mkdir(tree)
    # Fixed IVs and nonce (a writer draws them from the CSPRNG; fixed here so
    # that the tree is reproducible).
    iv_root = bytes(range(16))
    iv_day = bytes(range(16, 32))
    nonce = bytes(range(32, 48))
    for d, iv in ((tree, iv_root),):
        with open(os.path.join(d, DIRIV), "wb") as f:
            f.write(b"RVDIRIV1" + iv)
    day = os.path.join(tree, enc_name(1, iv_root, "2026-12-02"))
    os.mkdir(day)
    with open(os.path.join(day, DIRIV), "wb") as f:
        f.write(b"RVDIRIV1" + iv_day)
    entries = [
        # (directory, its IV, plaintext name, key version or None for plain, golden source, plaintext)
        (day, iv_day, "20261202-0815-+15551234567-8842.wav", 1, "gcm-v1-150000.rv", "rec-150000.bin"),
        (day, iv_day, "20261202-0930-+15557654321-9001.wav", 2, "gcm-v2-20000-c4k.rv", "rec-20000.bin"),
        (tree, iv_root, "20261202-0815-+15551234567-8842.wav", 2, "cbc-v2-8192-c4k.rv", "rec-8192.bin"),
        (tree, iv_root, "before-name-encryption.wav", None, "cbc-v1-70000.rv", "rec-70000.bin"),
        (tree, iv_root, "x" * 160, 2, "gcm-v2-empty.rv", "empty.bin"),
    ]
    manifest = {"entries": []}
    for d, iv, name, version, src, plain in entries:
        backing = name if version is None else enc_name(version, iv, name)
        assert len(backing) <= 255
        shutil.copyfile(os.path.join(GOLDEN, src), os.path.join(d, backing))
        rel = os.path.relpath(os.path.join(d, backing), tree)
        manifest["entries"].append({"backing": rel, "type": "file", "plaintext": os.path.relpath(
            os.path.join(dec_path(tree, rel)), "."), "sha256": sha256(os.path.join(GOLDEN, "plain", plain))})
    link = enc_name(2, iv_root, "latest")
    target = "2026-12-02/20261202-0930-+15557654321-9001.wav"
    os.symlink(enc_target(2, nonce, target), os.path.join(tree, link))
    manifest["entries"].append({"backing": link, "type": "symlink", "plaintext": "latest", "target": target})
    manifest["entries"].append({"backing": os.path.relpath(day, tree), "type": "dir", "plaintext": "2026-12-02"})
    manifest["entries"].sort(key=lambda e: e["plaintext"])
    with open(os.path.join(HERE, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


def read_iv(d):
    with open(os.path.join(d, DIRIV), "rb") as f:
        b = f.read()
    assert len(b) == 24 and b[:8] == b"RVDIRIV1"
    return b[8:]


def dec_path(tree, rel):
    out, d = [], tree
    for part in rel.split("/"):
        out.append(dec_name(read_iv(d), part))
        d = os.path.join(d, part)
    return "/".join(out)


def check():
    tree = os.path.join(HERE, "tree")
    with open(os.path.join(HERE, "manifest.json")) as f:
        manifest = json.load(f)
    for e in manifest["entries"]:
        assert dec_path(tree, e["backing"]) == e["plaintext"], e
        if e["type"] == "symlink":
            assert dec_target(os.readlink(os.path.join(tree, e["backing"]))) == e["target"], e
    print("golden names tree: %d entries ok" % len(manifest["entries"]))


if __name__ == "__main__":
    check() if sys.argv[1:] == ["--check"] else make()
