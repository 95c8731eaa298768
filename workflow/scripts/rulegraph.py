"""Draw the pipeline's rule graph from the Snakefile: docs/images/rulegraph.dot and .svg.

    python workflow/scripts/rulegraph.py

`snakemake --rulegraph` (the default preset, nothing run) gives the graph in Graphviz's
language; its edges come in no fixed order, so they are sorted here, and the committed
.dot changes only when a rule or a dependency does. Graphviz's `dot` (Debian: graphviz)
draws the SVG that README shows. tests/test_docs.py checks the committed graph against the
Snakefile's, so a rule added without redrawing the picture fails there.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from spndl.fsutil import write_text

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "docs/images/rulegraph"

EDGE = re.compile(r"^\s*(\d+) -> (\d+)\s*$")


def rulegraph(repo: Path = REPO) -> str:
    """The Snakefile's rule graph as `snakemake --rulegraph` gives it."""
    r = subprocess.run([sys.executable, "-m", "snakemake", "--rulegraph", "--quiet", "all"], cwd=repo,
                       capture_output=True, text=True, check=True)
    return r.stdout[r.stdout.index("digraph"):]


def canonical(dot: str) -> str:
    """``dot`` with its edges sorted (the node lines keep Snakemake's order and colours)."""
    lines = dot.strip().splitlines()
    edges = sorted((ln.strip() for ln in lines if EDGE.match(ln)),
                   key=lambda e: tuple(map(int, EDGE.match(e).groups())))
    rest = [ln for ln in lines if not EDGE.match(ln) and ln.strip() != "}"]
    return "\n".join([*rest, *(f"\t{e}" for e in edges), "}"]) + "\n"


def rule_edges(dot: str) -> set[tuple[str, str]]:
    """The graph's edges as (rule, rule that needs it): what a picture of it must show."""
    names = dict(re.findall(r'^\s*(\d+)\[label = "([^"]+)"', dot, re.M))
    return {(names[a], names[b]) for a, b in (EDGE.match(ln).groups() for ln in dot.splitlines() if EDGE.match(ln))}


def main() -> int:
    dot_exe = shutil.which("dot")
    if dot_exe is None:
        sys.exit("Graphviz's dot is not installed (Debian: apt-get install graphviz)")
    dot = canonical(rulegraph())
    OUT.parent.mkdir(parents=True, exist_ok=True)
    svg = subprocess.run([dot_exe, "-Tsvg"], input=dot, capture_output=True, text=True, check=True).stdout
    write_text(OUT.with_suffix(".dot"), dot)
    write_text(OUT.with_suffix(".svg"), svg)
    print(f"wrote {OUT}.dot and {OUT}.svg ({len(rule_edges(dot))} edges)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
