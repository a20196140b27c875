#!/usr/bin/env python3
"""An independent second implementation of the recvault format, versions 1 and 2.

Written from docs/FORMAT.md alone (Python hashlib/hmac + the `cryptography`
package; none of recvault's C++), to check that the specification is
complete: it decrypts every golden file in manifest.json and compares the
SHA-256 of the plaintext. Usage: reference_decrypt.py [golden-dir]
Prints the derived keys of each file as worked test vectors (test keys only).
"""
import hashlib
import hmac
import json
import os
import struct
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives import hashes


def hkdf(ikm, salt, info, n):
    return HKDF(algorithm=hashes.SHA256(), length=n, salt=salt, info=info).derive(ikm)


def parse_header(b):
    assert b[:8] == b"RECVAULT", "not a recvault file"
    (hlen,) = struct.unpack_from("<H", b, 8)
    version, alg, shift, kdf, log2n, r, p, reserved = b[10:18]
    assert version in (1, 2) and alg in (1, 2) and kdf == 1 and reserved == 0
    (key_version,) = struct.unpack_from("<I", b, 18)
    file_id = b[22:38]
    klen, slen = b[38], b[39]
    key_id = b[40:40 + klen].decode()
    salt = b[40 + klen:40 + klen + slen].decode()
    core = 40 + klen + slen
    assert hlen == core + 49
    return dict(len=hlen, version=version, alg=alg, chunk=1 << shift, n=1 << log2n, r=r, p=p, key_version=key_version,
                file_id=file_id, key_id=key_id, salt=salt, core=b[:core], state=b[core],
                key_check=b[core + 1:core + 17], mac=b[core + 17:core + 49], mac_input=b[:hlen - 32])


FINAL, HOLE_MARKER = 1, 2  # the AAD's flags byte


def open_record(h, keys, index, flags, rec):
    aad = hashlib.sha256(h["core"]).digest() + struct.pack("<Q", index) + bytes([flags])
    if h["alg"] == 1:
        return AESGCM(keys["data"]).decrypt(rec[:12], rec[12:], aad)  # raises on a bad tag
    iv, ct, tag = rec[:16], rec[16:-32], rec[-32:]
    want = hmac.new(keys["data"][32:], struct.pack("<Q", len(aad)) + aad + iv + ct, "sha256").digest()
    if not hmac.compare_digest(want, tag):
        raise ValueError("HMAC mismatch")
    d = Cipher(algorithms.AES(keys["data"][:32]), modes.CBC(iv)).decryptor()
    padded = d.update(ct) + d.finalize()
    pad = padded[-1]
    assert 1 <= pad <= 16 and padded[-pad:] == bytes([pad]) * pad
    return padded[:-pad]


def decrypt(blob, key_text, salt_text=None):
    h = parse_header(blob)
    salt = (salt_text if salt_text is not None else h["salt"]).encode()
    vk = hashlib.scrypt(key_text.encode(), salt=salt, n=h["n"], r=h["r"], p=h["p"], dklen=32, maxmem=1 << 30)
    name = b"AES-256-GCM" if h["alg"] == 1 else b"AES-256-CBC"
    keys = dict(version=vk,
                data=hkdf(vk, h["file_id"], b"recvault/1 data " + name, 32 if h["alg"] == 1 else 64),
                header=hkdf(vk, h["file_id"], b"recvault/1 header", 32),
                check=hkdf(vk, h["file_id"], b"recvault/1 key check", 16))
    mac_ok = hmac.compare_digest(hmac.new(keys["header"], h["mac_input"], "sha256").digest(), h["mac"])
    check_ok = hmac.compare_digest(keys["check"], h["key_check"])
    if not mac_ok and not check_ok:
        raise ValueError("wrong key")
    if not (mac_ok and check_ok):
        raise ValueError("tampered header")
    c = h["chunk"]
    full_rec = c + 28 if h["alg"] == 1 else 48 + (c // 16 + 1) * 16
    marker_len = 36 if h["alg"] == 1 else 64  # a record of 8 plaintext bytes
    payload = blob[h["len"]:]
    count = (len(payload) + full_rec - 1) // full_rec
    slot = lambda i: payload[i * full_rec:(i + 1) * full_rec]
    zero = lambda b: b.count(0) == len(b)

    def marker_start(i, rec):  # the run start of a hole marker in slot i, or None
        if h["version"] < 2 or not zero(rec[marker_len:]):
            return None
        try:
            pt = open_record(h, keys, i, HOLE_MARKER, rec[:marker_len])
        except Exception:
            return None
        if len(pt) != 8 or struct.unpack("<Q", pt)[0] > i:
            return None
        return struct.unpack("<Q", pt)[0]

    out, holes, run = [], 0, None  # run: (first zero slot, marker index) of the hole being read
    for i in range(count):
        rec = slot(i)
        if i < count - 1:
            if h["version"] >= 2 and zero(rec):
                if run is None or not run[0] <= i < run[1]:
                    j = i + 1  # the next slot that is not all zero must be a marker covering i
                    while j < count - 1 and zero(slot(j)):
                        j += 1
                    assert j < count - 1, f"chunk {i}: zeros up to the last record"
                    start = marker_start(j, slot(j))
                    assert start is not None and start <= i, f"chunk {i}: zeros not covered by a hole marker"
                    run, holes = (i, j), holes + 1
                pt = bytes(c)
            else:
                try:
                    pt = open_record(h, keys, i, 0, rec)
                    assert len(pt) == c
                except Exception:
                    assert marker_start(i, rec) is not None, f"chunk {i} fails authentication"
                    pt = bytes(c)
                    if run is None or run[1] != i:  # a hole of one chunk: its marker alone
                        holes += 1
        else:
            try:
                pt, final = open_record(h, keys, i, FINAL, rec), True
            except Exception:
                pt, final = open_record(h, keys, i, 0, rec), False  # torn tails not handled here
            if h["state"] == 1:
                assert final, "truncated"
        out.append(pt)
    if h["state"] == 1:
        assert count > 0, "truncated"
    return b"".join(out), h, keys, holes


def main():
    here = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    manifest = json.load(open(os.path.join(here, "manifest.json")))
    for e in manifest["files"]:
        k = manifest["keys"][str(e["key_version"])]
        blob = open(os.path.join(here, e["file"]), "rb").read()
        pt, h, keys, holes = decrypt(blob, k["key"])
        assert hashlib.sha256(pt).hexdigest() == e["sha256"], e["file"]
        assert ("sealed" if h["state"] == 1 else "unterminated") == e["state"], e["file"]
        assert h["version"] == e["format_version"] and holes == e["holes"], e["file"]
        print(f"{e['file']}: ok ({len(pt)} bytes, format version {h['version']}, {holes} hole runs)")
        print(f"  file_id     {h['file_id'].hex()}")
        print(f"  version key {keys['version'].hex()}")
        print(f"  data key    {keys['data'].hex()}")
        print(f"  header key  {keys['header'].hex()}")
        print(f"  key check   {keys['check'].hex()}")
        print(f"  core sha256 {hashlib.sha256(h['core']).hexdigest()}")


if __name__ == "__main__":
    main()
