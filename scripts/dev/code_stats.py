#!/usr/bin/env python3
"""Size and shape figures of the crate, for reviews and for issue notes.

Prints the number of Rust files and lines under src/ and tests/, the longest files, the
longest functions (by brace matching from each `fn` line), and the dependencies between the
top-level modules of src/ (an edge a -> b when a file of module a names `crate::b`), with any
cycle among them. Text only, no build needed:

    python3 scripts/dev/code_stats.py [--top N]
"""
import argparse
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
FN = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)")
CRATE_REF = re.compile(r"\bcrate::(\w+)")
USE_CRATE_GROUP = re.compile(r"use crate::\{([^;]*)\}", re.S)


def rust_files(folder):
    return sorted(p for p in (ROOT / folder).rglob("*.rs"))


def strip_strings(line):
    return re.sub(r'"(\\.|[^"\\])*"', '""', line.split("//")[0])


def functions(path):
    lines = path.read_text().splitlines()
    out = []
    i = 0
    while i < len(lines):
        m = FN.match(lines[i])
        if not m:
            i += 1
            continue
        depth, opened, j = 0, False, i
        while j < len(lines):
            text = strip_strings(lines[j])
            if not opened and ";" in text and "{" not in text:
                break  # a declaration without a body
            depth += text.count("{") - text.count("}")
            opened = opened or "{" in text
            if opened and depth <= 0:
                out.append((j - i + 1, f"{path.relative_to(ROOT)}:{i + 1}", m.group(6)))
                break
            j += 1
        i += 1
    return out


def module_of(path):
    rel = path.relative_to(ROOT / "src")
    return rel.parts[0].removesuffix(".rs")


def module_edges():
    edges = {}
    for path in rust_files("src"):
        module = module_of(path)
        if module in ("lib", "main"):
            continue
        text = path.read_text()
        # Unit tests may reach anywhere; the rule is about the code that ships.
        text = re.split(r"#\[cfg\(test\)\]\s*mod tests", text)[0]
        names = set(CRATE_REF.findall(text))
        for group in USE_CRATE_GROUP.findall(text):
            names.update(re.findall(r"(?:^|[,{\s])(\w+)(?=::|\s*[,}]|\s*$)", group))
        for name in names:
            if name != module and (ROOT / "src" / f"{name}.rs").exists() or (
                ROOT / "src" / name
            ).is_dir():
                if name != module:
                    edges.setdefault(module, set()).add(name)
    return edges


def cycles(edges):
    found = []
    def walk(node, stack):
        for nxt in sorted(edges.get(node, ())):
            if nxt in stack:
                cycle = stack[stack.index(nxt):] + [nxt]
                if min(cycle[:-1]) == cycle[0]:
                    found.append(" -> ".join(cycle))
            elif len(stack) < 12:
                walk(nxt, stack + [nxt])
    for node in sorted(edges):
        walk(node, [node])
    return sorted(set(found))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--top", type=int, default=5)
    args = parser.parse_args()
    for folder in ("src", "tests"):
        files = rust_files(folder)
        sizes = [(len(p.read_text().splitlines()), p) for p in files]
        total = sum(n for n, _ in sizes)
        print(f"{folder}: {len(files)} files, {total} lines, "
              f"{sum(p.stat().st_size for p in files) / 1024:.0f} KiB")
        for n, p in sorted(sizes, reverse=True)[: args.top]:
            print(f"  {n:5} {p.relative_to(ROOT)}")
    fns = [f for p in rust_files("src") for f in functions(p)]
    print("longest functions in src/:")
    for n, where, name in sorted(fns, reverse=True)[: args.top]:
        print(f"  {n:5} {name} ({where})")
    edges = module_edges()
    print("module dependencies in src/ (non-test code):")
    for module in sorted(edges):
        print(f"  {module} -> {', '.join(sorted(edges[module]))}")
    found = cycles(edges)
    print(f"module cycles: {len(found)}")
    for c in found:
        print(f"  {c}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
