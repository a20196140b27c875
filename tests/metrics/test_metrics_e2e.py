"""A live recvaultd under a recording load: its metrics (TCP [metrics] listen
and GET /metrics on the control socket) say what the load did, promtool
accepts them, and a real Prometheus scrapes it.

usage: test_metrics_e2e.py RECVAULTD RECVAULTCTL PROMTOOL PROMETHEUS"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Daemon  # noqa: E402

RECVAULTD, RECVAULTCTL, PROMTOOL, PROMETHEUS = sys.argv[1:5]
FRAME = 320           # 10 ms of 16-bit 16 kHz audio
FRAMES = 100          # per acme recording
ACME_FILES = 5
BETA_FILES = 3
BETA_SIZE = 10000

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def parse(text):
    """{(name, frozenset(labels)): value} of an exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=30) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers["Content-Type"]
        return r.read().decode()


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok -", what)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def record(path, frames):
    """A recorder: small appends, as RTP frames arrive."""
    with open(path, "wb", buffering=0) as f:
        for i in range(frames):
            f.write(bytes([i % 251]) * FRAME)


def load(d):
    admin = d.token()
    for account in ("acme", "beta"):
        status, body, _ = d.http("PUT", "/api/v2/config/call_recording_encryption", admin, account,
                                 json.dumps({"enabled": True}))
        assert status == 200, body
    status, _, _ = d.http("GET", "/api/v2/config/call_recording_encryption", "not-a-token", "acme")
    assert status == 401
    for account in ("acme", "beta"):
        os.mkdir(os.path.join(d.mnt, account))
    for i in range(ACME_FILES):
        record(os.path.join(d.mnt, "acme", "call-%d.wav" % i), FRAMES)
    for i in range(BETA_FILES):
        with open(os.path.join(d.mnt, "beta", "call-%d.wav" % i), "wb") as f:
            f.write(b"b" * BETA_SIZE)
    for i in range(ACME_FILES):
        with open(os.path.join(d.mnt, "acme", "call-%d.wav" % i), "rb") as f:
            assert f.read() == b"".join(bytes([j % 251]) * FRAME for j in range(FRAMES))


def tamper(d):
    """Flip a byte of a sealed beta recording's ciphertext; reading it must fail with EIO."""
    backing = os.path.join(d.backing, "beta", "call-0.wav")
    with open(backing, "r+b") as f:
        f.seek(os.path.getsize(backing) - 40)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0x55]))
    try:
        with open(os.path.join(d.mnt, "beta", "call-0.wav"), "rb") as f:
            f.read()
    except OSError as e:
        assert e.errno == 5, e
        return
    raise AssertionError("a tampered recording was read without an error")


def check_numbers(d, port, started):
    held = open(os.path.join(d.mnt, "acme", "held-open.wav"), "wb")
    try:
        held.write(b"x" * FRAME)
        held.flush()
        text = scrape(port)
    finally:
        held.close()
    s = parse(text)
    check(value(s, "recvault_recordings_created_total", account="acme") == ACME_FILES + 1,
          "recordings created, acme: %d" % (ACME_FILES + 1))
    check(value(s, "recvault_recordings_created_total", account="beta") == BETA_FILES,
          "recordings created, beta: %d" % BETA_FILES)
    check(value(s, "recvault_written_bytes_total", account="acme") == ACME_FILES * FRAMES * FRAME + FRAME,
          "bytes written, acme: every byte the recorders wrote")
    check(value(s, "recvault_written_bytes_total", account="beta") == BETA_FILES * BETA_SIZE,
          "bytes written, beta")
    check(value(s, "recvault_recordings_open", account="acme") == 1, "one acme recording open during the scrape")
    read = value(s, "recvault_read_bytes_total", account="acme") or 0
    check(0 < read <= ACME_FILES * FRAMES * FRAME, "bytes read, acme: %d" % read)
    check(value(s, "recvault_chunks_encrypted_total") >= ACME_FILES + BETA_FILES, "chunks encrypted")
    check(value(s, "recvault_chunks_decrypted_total") >= 1, "chunks decrypted")
    check(value(s, "recvault_control_requests_total", endpoint="config", method="PUT", code="200") == 2,
          "control requests: 2 PUT config 200")
    check(value(s, "recvault_control_requests_total", endpoint="config", method="GET", code="401") == 1,
          "control requests: 1 GET config 401")
    check(value(s, "recvault_keystore_operation_duration_seconds_count", op="update_config") == 2,
          "keystore: 2 update_config timed")
    check((value(s, "recvault_keystore_operation_duration_seconds_count", op="get_config") or 0) >= 1,
          "keystore: get_config timed")
    hits = value(s, "recvault_key_cache_requests_total", result="hit")
    misses = value(s, "recvault_key_cache_requests_total", result="miss")
    check(misses >= 2 and hits >= ACME_FILES, "key cache: %d hits, %d misses" % (hits, misses))
    passes = value(s, "recvault_tail_flush_duration_seconds_count")
    check(passes >= 1 and value(s, "recvault_tail_flush_duration_seconds_bucket", le="+Inf") == passes,
          "tail flush passes: %d" % passes)
    creates = value(s, "recvault_fuse_request_duration_seconds_count", op="create")
    check(creates == ACME_FILES + 1 + BETA_FILES, "FUSE latency: %d CREATE requests" % creates)
    writes = value(s, "recvault_fuse_request_duration_seconds_count", op="write")
    check(writes >= ACME_FILES * FRAMES, "FUSE latency: %d WRITE requests, one per recorder write" % writes)
    check(value(s, "recvault_fuse_request_duration_seconds_bucket", op="write", le="+Inf") == writes,
          "FUSE latency: +Inf bucket = count")
    check((value(s, "recvault_fuse_request_duration_seconds_count", op="read") or 0) >= 1, "FUSE latency: READs")
    check(value(s, "process_resident_memory_bytes") > 1e6, "process RSS")
    check(value(s, "process_cpu_seconds_total") > 0, "process CPU")
    version = subprocess.run([RECVAULTD, "--version"], capture_output=True, text=True).stdout.split()[-1]
    check(value(s, "recvault_build_info", version=version) == 1, "build info: version " + version)
    check(value(s, "recvault_tamper_detections_total", account="beta") is None, "no tampering yet")

    tamper(d)
    s = parse(scrape(port))
    check(value(s, "recvault_tamper_detections_total", account="beta") >= 1, "tamper detection counted for beta")
    check(value(s, "recvault_fuse_errors_total", cause="tampered") >= 1, "EIO cause: tampered")
    check(value(s, "recvault_last_tamper_detection_timestamp_seconds") >= started,
          "last tamper detection time")
    check(value(s, "recvault_recordings_open", account="acme") in (None, 0), "nothing open after close")
    return text


def check_control_socket(d):
    status, _, _ = d.http("GET", "/metrics")
    check(status == 401, "GET /metrics on the control socket needs a token")
    status, body, ctype = d.http("GET", "/metrics", d.token("read", "acme"))
    check(status == 200 and ctype.startswith("text/plain; version=0.0.4"), "GET /metrics with a read token")
    s = parse(body)
    check(value(s, "recvault_recordings_created_total", account="acme") == ACME_FILES + 1, "acme's series shown")
    check(value(s, "recvault_recordings_created_total", account="beta") is None,
          "beta's series hidden from a token for acme only")


def ctl(d, *args):
    r = subprocess.run([RECVAULTCTL, "--socket", d.socket, "--token", d.token("read", "*")] + list(args),
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def check_status(d):
    """recvaultctl status: the same load, read at a glance and as JSON."""
    s = json.loads(ctl(d, "status", "--json"))
    acme, beta = s["accounts"]["acme"], s["accounts"]["beta"]
    check(acme["key_version"] == 1 and acme["encryption"] == "enabled", "status: acme encrypted, key v1")
    check(acme["bytes_written_today"] == ACME_FILES * FRAMES * FRAME + FRAME, "status: acme bytes written today")
    check(beta["bytes_written_today"] == BETA_FILES * BETA_SIZE, "status: beta bytes written today")
    check(s["recordings_open"] == 0 and acme["recordings_open"] == 0, "status: nothing open")
    check(s["last_tamper_detection"]["account"] == "beta", "status: last tamper detection in beta")
    text = ctl(d, "status")
    print(text)
    check(re.search(r"^mount\s+" + re.escape(d.mnt), text, re.M) is not None, "status text: the mount")
    check(re.search(r"^\s+acme\s+v1\s+AES-256-GCM\s+0\s+157 KiB", text, re.M) is not None,
          "status text: acme's row (key v1, 0 open, 157 KiB today)")
    check("last detected" in text and "account beta" in text, "status text: the last tamper detection")
    only_acme = json.loads(subprocess.run([RECVAULTCTL, "--socket", d.socket, "--token", d.token("read", "acme"),
                                           "status", "--json"], capture_output=True, text=True).stdout)
    check(list(only_acme["accounts"]) == ["acme"] and only_acme["last_tamper_detection"] is None,
          "status for a token of acme: neither beta nor beta's tampering")


def promtool(text):
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True)
    print(r.stdout + r.stderr)
    check(r.returncode == 0, "promtool check metrics accepts the exposition")


def prometheus(port):
    work = tempfile.mkdtemp(prefix="rv-prometheus-")
    web = free_port()
    config = os.path.join(work, "prometheus.yml")
    with open(config, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                "scrape_configs:\n  - job_name: recvault\n    static_configs:\n"
                "      - targets: ['127.0.0.1:%d']\n" % port)
    log = open(os.path.join(work, "prometheus.log"), "wb")
    proc = subprocess.Popen([PROMETHEUS, "--config.file=" + config, "--storage.tsdb.path=" + os.path.join(work, "data"),
                             "--web.listen-address=127.0.0.1:%d" % web], stdout=log, stderr=log)
    try:
        def query(q):
            url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (web, urllib.parse.quote(q))
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    result = json.load(r)["data"]["result"]
            except OSError:
                return None
            return float(result[0]["value"][1]) if result else None

        # Bounded wait, not a timed assertion: Prometheus scrapes every second.
        deadline = time.monotonic() + 120
        up = created = None
        while time.monotonic() < deadline and proc.poll() is None:
            up = query('up{job="recvault"}')
            created = query('recvault_recordings_created_total{job="recvault",account="acme"}')
            if up == 1 and created is not None:
                break
            time.sleep(0.5)
        check(up == 1, "Prometheus: the recvault target is up")
        check(created == ACME_FILES + 1, "Prometheus: recordings created for acme = %s" % created)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def main():
    for tool in (PROMTOOL, PROMETHEUS):
        if not os.access(tool, os.X_OK):
            sys.exit("%s missing: install the Debian package prometheus (scripts/deps.sh)" % tool)
    started = time.time()
    # Without the writeback cache every write(2) is one WRITE to the daemon,
    # so its byte counts equal the load's exactly.
    with Daemon(RECVAULTD, RECVAULTCTL, '[fuse]\nwriteback_cache = false\n'
                '[metrics]\nlisten = "127.0.0.1:0"\n') as d:
        d.start()
        port = d.metrics_port()
        load(d)
        text = check_numbers(d, port, started)
        check_control_socket(d)
        check_status(d)
        promtool(text)
        promtool(scrape(port))
        prometheus(port)
        d.stop()
        if d.proc.returncode != 0:
            print(d.log()[-4000:])
        check(d.proc.returncode == 0, "recvaultd stopped cleanly (exit 0; under ASan: no leak)")
    print("all metrics checks passed")


if __name__ == "__main__":
    main()
