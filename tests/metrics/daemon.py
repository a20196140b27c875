"""A real recvaultd for the Python end-to-end tests: a temp dir with its own
configuration, keys and mount; stopped (SIGTERM, then SIGKILL and a lazy
unmount) and removed on exit, also when a test fails. Talks HTTP to the
control socket with the standard library."""
import http.client
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def mounted(path):
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == path for line in f)


class Daemon:
    def __init__(self, recvaultd, recvaultctl, extra_toml=""):
        self.recvaultd = recvaultd
        self.recvaultctl = recvaultctl
        self.dir = tempfile.mkdtemp(prefix="rv-metrics-")
        self.mnt = os.path.join(self.dir, "mnt")
        self.backing = os.path.join(self.dir, "backing")
        self.socket = os.path.join(self.dir, "control.sock")
        self.log_path = os.path.join(self.dir, "daemon.log")
        self.config = os.path.join(self.dir, "recvault.toml")
        for sub in ("mnt", "backing", "keystore"):
            os.mkdir(os.path.join(self.dir, sub))
        for name in ("master.key", "jwt.secret"):
            fd = os.open(os.path.join(self.dir, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32) + "\n")
        with open(self.config, "w") as f:
            f.write('[storage]\nbacking_dir = "backing"\nmount_point = "mnt"\ntail_flush_interval_ms = 100\n'
                    '[keystore]\npath = "keystore"\nmaster_key_file = "master.key"\n'
                    '[control]\nsocket = "control.sock"\njwt_hs256_secret_file = "jwt.secret"\n'
                    'audit_log = "audit.log"\n' + extra_toml)
        self.proc = None

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.recvaultd, "-f", "-c", self.config], stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if "recvault: mounted " in self.log() and mounted(self.mnt) and os.path.exists(self.socket):
                return
            if self.proc.poll() is not None:
                raise RuntimeError("recvaultd exited during start-up:\n" + self.log())
            time.sleep(0.05)
        raise RuntimeError("recvaultd did not mount in time:\n" + self.log())

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def metrics_port(self):
        m = re.search(r"metrics at http://127\.0\.0\.1:(\d+)/metrics", self.log())
        if not m:
            raise RuntimeError("no metrics address in the log:\n" + self.log())
        return int(m.group(1))

    def token(self, scope="admin", accounts="*"):
        args = [self.recvaultctl, "token", "mint", "--secret-file", os.path.join(self.dir, "jwt.secret"),
                "--sub", "test", "--scope", scope, "--ttl", "600", "--accounts", accounts]
        return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip()

    def http(self, method, path, token=None, account=None, body=None):
        c = UnixHTTPConnection(self.socket)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        if account:
            headers["X-Account-ID"] = account
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        data = r.read().decode()
        c.close()
        return r.status, data, r.getheader("Content-Type")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if mounted(self.mnt):
            subprocess.run(["umount", "-l", self.mnt], check=False)

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
