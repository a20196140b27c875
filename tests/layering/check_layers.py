#!/usr/bin/env python3
"""The module graph of docs/ARCHITECTURE.md, enforced: no module includes a
header of a module it may not depend on. Reads every #include "recvault/..."
under include/recvault/ and src/ (tools and tests may use anything).

Usage: check_layers.py <project root>   (exit 1 and one line per violation)
"""
import pathlib
import re
import sys

# Each module and the modules it may include. A module is a directory of
# include/recvault/ and src/, except the files named in SPECIAL.
ALLOWED = {
    "util": set(),
    "metrics": set(),
    "crypto": {"util"},
    "sys": {"util", "crypto"},
    "format": {"util", "sys", "crypto"},
    "keystore": {"util", "sys", "crypto", "format"},
    "pgp": {"util", "sys", "crypto"},
    "jwt": {"util", "sys", "crypto"},
    "config": {"util", "sys", "keystore"},
    "fuse": {"util", "sys", "crypto", "format", "keystore", "pgp", "metrics"},
    "control": {"util", "sys", "crypto", "jwt", "pgp"},
    "daemon": {"util", "sys", "crypto", "format", "keystore", "pgp", "jwt", "config", "fuse", "control", "metrics"},
}
# Files that form a module of their own inside another's directory.
SPECIAL = {
    "control/jwt.hpp": "jwt",
    "control/jwt.cpp": "jwt",
    "daemon/config.hpp": "config",
    "daemon/config.cpp": "config",
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"recvault/([^"]+)"', re.M)


def module_of(rel):
    """rel: a path below include/recvault/ or src/."""
    if rel in SPECIAL:
        return SPECIAL[rel]
    first = rel.split("/")[0]
    if first.startswith("util_"):
        return "util"
    return first


def main():
    root = pathlib.Path(sys.argv[1])
    violations = []
    files = 0
    for base in (root / "include" / "recvault", root / "src"):
        for path in sorted(base.rglob("*")):
            if path.suffix not in (".hpp", ".cpp"):
                continue
            files += 1
            rel = path.relative_to(base).as_posix()
            mod = module_of(rel)
            if mod not in ALLOWED:
                violations.append(f"{path.relative_to(root)}: module '{mod}' is not in the module graph")
                continue
            for target in INCLUDE.findall(path.read_text()):
                dep = module_of(target)
                if dep != mod and dep not in ALLOWED[mod]:
                    violations.append(
                        f"{path.relative_to(root)}: {mod} includes recvault/{target} ({dep}), "
                        f"which {mod} may not depend on")
    for v in violations:
        print(v)
    print(f"layering: {files} files, {len(violations)} violations")
    return 1 if violations or files == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
