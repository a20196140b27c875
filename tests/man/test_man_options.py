"""Every option a program's --help lists (its subcommands' included) appears
in its manual page, every program's --version prints meson's version, and
every key of the reference configuration is in recvault.toml(5).

usage: test_man_options.py VERSION REFERENCE_TOML PAGE=PROGRAM... PAGE"""
import re
import subprocess
import sys

OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])\b")


def page_text(path):
    """The page as man would show it, roughly: roff escapes of '-' undone."""
    with open(path) as f:
        text = f.read()
    text = re.sub(r"\\f[BIRP]|\\&", "", text)  # font changes, zero-width breaks
    return text.replace("\\-", "-")


def help_options(program, words):
    """{option: where} from PROGRAM WORDS --help, recursing into subcommands."""
    out = subprocess.run([program] + words + ["--help"], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit("%s %s --help failed: %s" % (program, " ".join(words), out.stderr))
    found = {}
    section = None
    subcommands = []
    for line in out.stdout.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            # "Options:", "Subcommands:", "OPTIONS:" ... head a section; other text ends one.
            section = line.strip()[:-1].upper() if line.rstrip().endswith(":") else None
            continue
        if section == "OPTIONS":
            # An option's own line starts with it; continuation lines are indented further.
            first = line.strip().split(" ")[0]
            for opt in first.split(","):
                if OPTION.fullmatch(opt):
                    found[opt] = " ".join([program.split("/")[-1]] + words)
        elif section == "SUBCOMMANDS":
            name = line.split()[0]
            subcommands.append(name)
    for sub in subcommands:
        found.update({k: v for k, v in help_options(program, words + [sub]).items() if k not in found})
    return found


def main():
    version, reference = sys.argv[1], sys.argv[2]
    pairs = [a.split("=", 1) for a in sys.argv[3:-1]]
    toml_page = sys.argv[-1]
    failures = 0
    for page, program in pairs:
        text = page_text(page)
        options = help_options(program, [])
        if "--help" not in options or "--version" not in options:
            print("FAIL %s: --help lists no --help/--version (parser broken?)" % program)
            failures += 1
        for opt, where in sorted(options.items()):
            if not re.search(r"(?<![\w-])" + re.escape(opt) + r"(?![\w-])", text):
                print("FAIL %s: %s (from %s --help) is not in %s" % (program, opt, where, page))
                failures += 1
        print("ok - %s: %d options in %s" % (program.split("/")[-1], len(options), page.split("/")[-1]))
        got = subprocess.run([program, "--version"], capture_output=True, text=True).stdout.strip()
        if got != "%s %s" % (program.split("/")[-1], version):
            print("FAIL %s --version printed %r, expected the project version %s" % (program, got, version))
            failures += 1
    text = page_text(toml_page)
    keys = set()
    table = None
    for line in open(reference):
        m = re.match(r"^#?\s*\[([a-z.]+)\]\s*$", line)
        if m:
            table = m.group(1)
            continue
        m = re.match(r"^#?\s*([a-z_0-9]+)\s*=", line)
        if m and table:
            keys.add((table, m.group(1)))
    for table, key in sorted(keys):
        if not re.search(r"\b" + re.escape(key) + r"\b", text):
            print("FAIL recvault.toml(5) lacks [%s] %s" % (table, key))
            failures += 1
    print("ok - recvault.toml(5): %d keys of the reference configuration" % len(keys))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
