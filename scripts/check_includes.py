#!/usr/bin/env python3
"""Checks the headers under include/tinydiff (run by ctest as include_cycles and core_headers_self_contained).

  check_includes.py cycles ROOT
      Fails if the `#include "tinydiff/..."` lines form a cycle. A cycle means neither header
      can be read, or compiled, without the other: the order of the two then depends on which
      one a user happens to include first.
  check_includes.py self-contained ROOT DIR CXX [FLAG...]
      Compiles each header of ROOT/tinydiff/DIR on its own (CXX -fsyntax-only FLAG...), so that
      a header that works only because another one was included before it fails here.
"""
import pathlib
import re
import subprocess
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"(tinydiff/[^"]+)"', re.MULTILINE)


def include_graph(root):
    """{header: [headers it includes]}, each named as in an #include line ("tinydiff/core/tensor.hpp")."""
    graph = {}
    for path in sorted((root / "tinydiff").rglob("*")):
        if path.is_file():
            graph[path.relative_to(root).as_posix()] = INCLUDE.findall(path.read_text(encoding="utf-8"))
    return graph


def find_cycle(graph):
    """One cycle as a list of headers (first == last), or None. Depth-first, without recursion."""
    state = {}  # header -> "open" while on the current path, "done" once all it reaches is cycle-free
    for start in graph:
        if start in state:
            continue
        path, iterators = [start], [iter(graph[start])]
        state[start] = "open"
        while path:
            child = next(iterators[-1], None)
            if child is None:
                state[path.pop()] = "done"
                iterators.pop()
            elif state.get(child) == "open":
                return path[path.index(child):] + [child]
            elif child not in state and child in graph:
                state[child] = "open"
                path.append(child)
                iterators.append(iter(graph[child]))
    return None


def check_cycles(root):
    graph = include_graph(root)
    missing = sorted({f"{h} includes {c}" for h, cs in graph.items() for c in cs if c not in graph})
    if missing:
        sys.exit("include of a header that does not exist:\n  " + "\n  ".join(missing))
    cycle = find_cycle(graph)
    if cycle:
        sys.exit("include cycle:\n  " + "\n  -> ".join(cycle))
    print(f"{len(graph)} headers, no include cycle")


def check_self_contained(root, folder, compiler_and_flags):
    headers = sorted((root / "tinydiff" / folder).glob("*.hpp"))
    if not headers:
        sys.exit(f"no headers in {root / 'tinydiff' / folder}")
    failed = []
    for header in headers:
        command = compiler_and_flags + ["-std=c++17", "-fsyntax-only", f"-I{root}", "-x", "c++", str(header)]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            failed.append(header.relative_to(root).as_posix())
            sys.stderr.write(result.stderr)
    if failed:
        sys.exit("not self-contained (does not compile on its own):\n  " + "\n  ".join(failed))
    print(f"{len(headers)} headers of tinydiff/{folder} compile on their own")


def main(argv):
    if len(argv) == 3 and argv[1] == "cycles":
        check_cycles(pathlib.Path(argv[2]))
    elif len(argv) >= 5 and argv[1] == "self-contained":
        check_self_contained(pathlib.Path(argv[2]), argv[3], argv[4:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
