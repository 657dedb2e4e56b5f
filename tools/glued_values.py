"""Every glued value of the book's pages, to compare two versions of the code: a refactor must not change one.

    .venv/bin/python tools/glued_values.py dump OUT.json [PAGE ...]   # execute pages (default: all), save values
    .venv/bin/python tools/glued_values.py diff BEFORE.json AFTER.json  # exit 1 and list the names that differ

Each page executes as the book build executes it (jupytext + nbclient, working directory ``book/``). A glued value
is a code output carrying myst-nb's ``scrapbook`` metadata; its ``text/plain`` (or, for a figure, the name and the
mime types) is recorded. Figures are compared pixel by pixel by ``python -m attnbook figures`` instead.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def glued(nb) -> dict[str, str]:
    """``{name: text/plain}`` of every glued output of an executed notebook."""
    values = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if name is None:
                continue
            data = out.get("data", {})
            values[name] = data.get("text/plain", "<" + ",".join(sorted(data)) + ">")
    return values


def dump(out: Path, patterns: list[str]) -> int:
    import jupytext
    import nbclient
    from chapters import pages

    os.environ.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    values = {}
    for name in pages(patterns):
        nb = jupytext.read(ROOT / "book" / f"{name}.md")
        nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": str(ROOT / "book")}}).execute()
        values[name] = glued(nb)
        print(f"{name}: {len(values[name])} glued values", flush=True)
    out.write_text(json.dumps(values, indent=1, sort_keys=True) + "\n")
    return 0


def diff(before: Path, after: Path) -> int:
    a, b = json.loads(before.read_text()), json.loads(after.read_text())
    bad = 0
    for page in sorted(set(a) & set(b)):
        for name in sorted(set(a[page]) | set(b[page])):
            va, vb = a[page].get(name), b[page].get(name)
            if va != vb:
                bad += 1
                print(f"{page} {name}: {va!r} -> {vb!r}")
    n = sum(len(v) for p, v in a.items() if p in b)
    print(f"{n} glued values on {len(set(a) & set(b))} pages compared; {bad} differ")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("out", type=Path)
    d.add_argument("pages", nargs="*")
    c = sub.add_parser("diff")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    args = ap.parse_args(argv)
    return dump(args.out, args.pages) if args.cmd == "dump" else diff(args.before, args.after)


if __name__ == "__main__":
    sys.exit(main())
