#!/usr/bin/env python3
"""Reports cycles between the modules of a crate, from `cargo modules dependencies` output.

Reads the Graphviz text on stdin. Every "uses" edge between two items of the crate becomes an
edge between the modules that contain them (an item's module is the nearest enclosing node of
kind "mod" or the crate root); edges inside one module are dropped. Prints each strongly
connected component of more than one module with the edges that close it, and exits 1 if
there is any. Cycles named in the file given with --allow (one `a <-> b` pair per line, `#`
comments; a line lists every module of one cycle, `a <-> b <-> c`) are reported but do not
fail.
"""
import re
import sys
from collections import defaultdict

node_re = re.compile(r'^\s*"([^"]+)" \[label="([^|"]*)\|')
edge_re = re.compile(r'^\s*"([^"]+)" -> "([^"]+)" \[label="uses"')


def main() -> int:
    allow = set()
    args = sys.argv[1:]
    if len(args) == 2 and args[0] == "--allow":
        for line in open(args[1]):
            line = line.split("#", 1)[0].strip()
            if line:
                allow.add(frozenset(p.strip() for p in line.split("<->")))
    kinds = {}
    edges = []
    crate = None
    for line in sys.stdin:
        m = node_re.match(line)
        if m:
            name, kind = m.group(1), m.group(2)
            kinds[name] = kind
            if kind == "crate":
                crate = name
            continue
        m = edge_re.match(line)
        if m:
            edges.append((m.group(1), m.group(2)))
    if crate is None:
        print("module-cycles: no crate node in the input", file=sys.stderr)
        return 2

    def module_of(item: str) -> str | None:
        if not (item == crate or item.startswith(crate + "::")):
            return None
        parts = item.split("::")
        while parts:
            name = "::".join(parts)
            if kinds.get(name, "").endswith("mod") or name == crate:
                return name
            parts.pop()
        return None

    graph = defaultdict(set)
    why = {}
    for a, b in edges:
        ma, mb = module_of(a), module_of(b)
        if ma and mb and ma != mb:
            graph[ma].add(mb)
            why.setdefault((ma, mb), (a, b))

    # Tarjan's strongly connected components.
    index, low, on, stack, sccs = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            sccs.append(comp)

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            visit(v)

    failed = False
    for comp in sccs:
        if len(comp) < 2:
            continue
        members = set(comp)
        closing = sorted((a, b) for (a, b) in why if a in members and b in members)
        allowed = frozenset(members) in allow
        label = "allowed cycle" if allowed else "cycle"
        print(f"{label}: {' <-> '.join(sorted(comp))}")
        for a, b in closing:
            src, dst = why[(a, b)]
            print(f"    {a} -> {b}   ({src} uses {dst})")
        failed |= not allowed
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
