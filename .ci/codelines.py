#!/usr/bin/env python3
"""Counts the code lines of the crates' library code, as issue 18's "fewer lines overall" is measured.

    python3 .ci/codelines.py [ROOT] [--files]

A code line is a line of `crates/*/src/**.rs` that is neither blank nor a comment (`//`, `///`, `//!`, `/* … */`).
Test code is left out: every item behind `#[cfg(test)]` (an inline `mod tests { … }` up to its closing brace) and
every file such a line declares as a module (`#[cfg(test)] mod tests;` → `tests.rs`). Prints the count per crate and
the total (with `--files`, per file). ROOT defaults to this checkout; pass a `git worktree` of another commit to
compare. Not run by CI: a measuring tool.
"""
import collections
import os
import re
import sys

TEST_MODULE = re.compile(r"#\[cfg\(test\)\]\s*(?:pub\s+)?mod\s+(\w+)\s*;")


def sources(root):
    for folder, _, names in os.walk(os.path.join(root, "crates")):
        if "/src" in folder + "/":
            yield from (os.path.normpath(os.path.join(folder, n)) for n in names if n.endswith(".rs"))


def test_files(texts):
    out = set()
    for path, text in texts.items():
        folder, stem = os.path.dirname(path), os.path.splitext(os.path.basename(path))[0]
        for m in TEST_MODULE.finditer(text):
            name = m.group(1)
            out |= {os.path.join(folder, name + ".rs"), os.path.join(folder, name, "mod.rs"),
                    os.path.join(folder, stem, name + ".rs")}
    return {os.path.normpath(p) for p in out}


def skip_item(lines, i):
    """The index after the item that starts on the line after `#[cfg(test)]` at `i`."""
    j, depth, opened = i + 1, 0, False
    while j < len(lines):
        depth += lines[j].count("{") - lines[j].count("}")
        opened = opened or "{" in lines[j]
        if (opened and depth <= 0) or (not opened and lines[j].strip().endswith(";")):
            break
        j += 1
    return j + 1


def code_lines(text):
    lines = text.split("\n")
    n, i, in_comment = 0, 0, False
    while i < len(lines):
        s = lines[i].strip()
        if s.startswith("#[cfg(test)]"):
            i = skip_item(lines, i)
            continue
        if in_comment:
            in_comment = "*/" not in s
        elif s.startswith("/*"):
            in_comment = "*/" not in s
        elif s and not s.startswith("//"):
            n += 1
        i += 1
    return n


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    root = os.path.abspath(args[0] if args else os.path.join(os.path.dirname(__file__), ".."))
    texts = {path: open(path, encoding="utf-8").read() for path in sorted(sources(root))}
    tests = test_files(texts)
    counts = collections.Counter()
    for path, text in texts.items():
        if path in tests:
            continue
        rel = os.path.relpath(path, os.path.join(root, "crates"))
        counts[rel if "--files" in sys.argv else rel.split(os.sep)[0]] += code_lines(text)
    for key, n in sorted(counts.items()):
        print(f"{n:7d} {key}")
    print(f"{sum(counts.values()):7d} total")


if __name__ == "__main__":
    main()
