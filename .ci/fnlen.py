#!/usr/bin/env python3
"""Keeps functions short: no function of the crates' library code (`crates/*/src`, tests left out) above 80 lines.

Issue 18: a function longer than that is split where a name explains a part better than a comment. Reads the
rustfmt-formatted sources as text: a function runs from its `fn` line to the closing brace at the same indentation.
Exits 1 and names every function over the limit, longest first.
"""
import glob
import re
import sys

LIMIT = 80
FN = re.compile(r"^(\s*)(?:pub(?:\([^)]*\))? )?(?:async )?(?:const )?(?:unsafe )?fn (\w+)")


def long_functions(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#[cfg(test)]"):
            return
        m = FN.match(line)
        if not m:
            i += 1
            continue
        indent, name = len(m.group(1)), m.group(2)
        j = i
        while j < len(lines) and not lines[j].rstrip().endswith(("{", ";")):
            j += 1
        if j == len(lines) or lines[j].rstrip().endswith(";"):
            i = j + 1
            continue
        end = j + 1
        closing = " " * indent + "}"
        while end < len(lines) and not (lines[end].startswith(closing) and len(lines[end]) - len(lines[end].lstrip()) == indent):
            end += 1
        if end - i + 1 > LIMIT:
            yield end - i + 1, name, i + 1
        i += 1


found = sorted(
    ((n, path, name, line) for path in sorted(glob.glob("crates/*/src/**/*.rs", recursive=True)) for n, name, line in long_functions(path)),
    reverse=True,
)
for n, path, name, line in found:
    print(f"{path}:{line}: fn {name} is {n} lines (at most {LIMIT}): split it where a name says more than a comment", file=sys.stderr)
print(f"fnlen: FAILED, {len(found)} functions above {LIMIT} lines" if found else f"fnlen: ok, no function above {LIMIT} lines")
sys.exit(1 if found else 0)
