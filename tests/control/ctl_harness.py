"""Shared by the control end-to-end tests: a test server process in a temp
dir, killed and removed on exit (also on failure)."""
import os
import shutil
import subprocess
import tempfile
import time

SECRET = "e2e-secret-0123456789-abcdefghijklmnopqrs"


class TestServer:
    def __init__(self, server_exe):
        self.dir = tempfile.mkdtemp(prefix="rvctl-e2e-")
        self.socket = os.path.join(self.dir, "control.sock")
        self.secret = os.path.join(self.dir, "jwt.secret")
        self.audit = os.path.join(self.dir, "audit.log")
        # 0600 from the start: the server refuses a secret others can read.
        fd = os.open(self.secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(SECRET + "\n")
        self.proc = subprocess.Popen(
            [server_exe, self.socket, self.secret, os.path.join(self.dir, "store"), self.audit],
            stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.close()
            raise RuntimeError("test server did not start")

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
