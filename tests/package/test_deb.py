"""The Debian package: dpkg-buildpackage -b -us -uc builds
recvault_<version>_amd64.deb, lintian finds nothing unjustified, its contents
and control fields are what the issue lists, and it installs into (and purges
from) a scratch root with its maintainer scripts, without touching this
machine (dpkg --root, scripts run chrootless with DPKG_ROOT).

To stay cheap, it packages what this build dir installs (debian/rules'
RECVAULT_PREBUILT) when the build dir has prefix /usr, as scripts/test.sh's
build-ci has; otherwise it compiles the package from a copy of the source
(about 5 minutes on 2 cores).

usage: test_deb.py VERSION SOURCE_ROOT BUILD_ROOT"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

VERSION, SOURCE, BUILD = sys.argv[1:4]
EXPECTED = [
    "./usr/sbin/recvaultd", "./usr/bin/recvaultctl", "./usr/bin/recvault-decrypt", "./usr/bin/recvault-encrypt",
    "./usr/bin/recvault-keystore", "./usr/bin/recvault-fsck",
    "./lib/systemd/system/recvault.service", "./etc/recvault/recvault.toml",
    "./usr/share/man/man8/recvaultd.8.gz", "./usr/share/man/man1/recvaultctl.1.gz",
    "./usr/share/man/man1/recvault-decrypt.1.gz", "./usr/share/man/man1/recvault-encrypt.1.gz",
    "./usr/share/man/man8/recvault-keystore.8.gz", "./usr/share/man/man8/recvault-fsck.8.gz",
    "./usr/share/man/man5/recvault.toml.5.gz",
    "./var/lib/recvault/backing/", "./var/lib/recvault/keystore/",
]


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok -", what, flush=True)


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        print(r.stdout[-4000:], r.stderr[-4000:], sep="\n")
        raise AssertionError("failed: " + " ".join(cmd))
    return r.stdout


def build_prefix():
    options = json.loads(run(["meson", "introspect", "--buildoptions", BUILD]))
    return next(o["value"] for o in options if o["name"] == "prefix")


def build(work):
    src = os.path.join(work, "src")
    env = dict(os.environ, DEB_BUILD_OPTIONS="nocheck parallel=2")
    if build_prefix() == "/usr":
        # debian/ alone: nothing is compiled, the build dir is installed.
        shutil.copytree(os.path.join(SOURCE, "debian"), os.path.join(src, "debian"))
        env["RECVAULT_PREBUILT"] = os.path.abspath(BUILD)
        print("packaging the build in", BUILD)
    else:
        print("build dir prefix is not /usr: compiling the package from a copy of the source")
        shutil.copytree(SOURCE, src, ignore=shutil.ignore_patterns(".git", "build*", "demo", "obj-*"))
    run(["dpkg-buildpackage", "-b", "-us", "-uc"], cwd=src, env=env)
    return os.path.join(work, "recvault_%s_amd64.deb" % VERSION)


def contents(deb):
    fields = {f: run(["dpkg-deb", "-f", deb, f]).strip() for f in ("Package", "Version", "Architecture", "Depends")}
    check(fields["Package"] == "recvault" and fields["Architecture"] == "amd64", "package recvault, amd64")
    check(fields["Version"] == VERSION, "the package carries the programs' version " + VERSION)
    check("fuse3" in fields["Depends"] and "libfuse3" in fields["Depends"], "depends on fuse3 and its library")
    listing = [line.split()[-1] for line in run(["dpkg-deb", "-c", deb]).splitlines()]
    for path in EXPECTED:
        check(path in listing, "ships " + path)
    check(not any(p.startswith(("./srv", "./usr/local")) for p in listing), "nothing in /srv or /usr/local")
    control = tempfile.mkdtemp()
    try:
        run(["dpkg-deb", "-e", deb, control])
        with open(os.path.join(control, "conffiles")) as f:
            check("/etc/recvault/recvault.toml" in f.read().split(), "the reference configuration is a conffile")
    finally:
        shutil.rmtree(control)


def lintian(work):
    changes = os.path.join(work, "recvault_%s_amd64.changes" % VERSION)
    r = subprocess.run(["lintian", "--fail-on", "error,warning", "--no-tag-display-limit", changes],
                       capture_output=True, text=True)
    print(r.stdout + r.stderr)
    check(r.returncode == 0, "lintian: no errors or warnings (overrides in debian/ say why)")


def scratch_install(work, deb):
    root = os.path.join(work, "root")
    for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "etc"):
        os.makedirs(os.path.join(root, d))
    open(os.path.join(root, "var/lib/dpkg/status"), "w").close()
    for name, line in (("group", "root:x:0:\n"), ("gshadow", "root:*::\n"), ("passwd", "root:x:0:0::/root:/bin/sh\n"),
                       ("shadow", "root:*:19000:0:99999:7:::\n")):
        with open(os.path.join(root, "etc", name), "w") as f:
            f.write(line)
    dpkg = ["dpkg", "--root=" + root, "--force-script-chrootless", "--force-depends", "--force-not-root"]
    with open("/etc/group") as f:
        host_group = f.read()
    run(dpkg + ["-i", deb])
    status = run(dpkg + ["-s", "recvault"])
    check("Status: install ok installed" in status and "Version: " + VERSION in status,
          "installed into a scratch root, maintainer scripts done")
    with open(os.path.join(root, "etc/group")) as f:
        check(any(line.startswith("recvault:") for line in f), "postinst made the recvault system group")
    check(os.path.isdir(os.path.join(root, "srv/recordings")), "postinst made the mount point /srv/recordings")
    check(os.stat(os.path.join(root, "var/lib/recvault/keystore")).st_mode & 0o777 == 0o700, "keystore dir is 0700")
    out = run([os.path.join(root, "usr/sbin/recvaultd"), "--version"]).strip()
    check(out == "recvaultd " + VERSION, "the installed recvaultd reports " + VERSION)
    page = run(["man", "--no-hyphenation", "-l", os.path.join(root, "usr/share/man/man8/recvaultd.8.gz")],
               env=dict(os.environ, MANWIDTH="80"))
    check("recvaultd - encrypting FUSE file system daemon" in page, "man recvaultd reads")
    # A purge removes the package and its conffile, never keys or recordings.
    keep = os.path.join(root, "var/lib/recvault/keystore/data.mdb")
    open(keep, "w").close()
    run(dpkg + ["--purge", "recvault"])
    check(not os.path.exists(os.path.join(root, "usr/sbin/recvaultd")), "purged")
    check(not os.path.exists(os.path.join(root, "etc/recvault/recvault.toml")), "purge removes the conffile")
    check(os.path.exists(keep), "purge keeps the keystore")
    with open("/etc/group") as f:
        check(f.read() == host_group, "this machine's /etc/group untouched")


def main():
    work = tempfile.mkdtemp(prefix="rv-deb-")
    try:
        deb = build(work)
        check(os.path.exists(deb), "dpkg-buildpackage built " + os.path.basename(deb))
        contents(deb)
        lintian(work)
        scratch_install(work, deb)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("package checks passed")


if __name__ == "__main__":
    main()
