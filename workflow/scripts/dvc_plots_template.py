"""Write the HTML template of `dvc plots show` with Vega, Vega-Lite and vega-embed inside it.

DVC's own page loads the three libraries from a CDN, so it is blank on a machine without
internet (a cluster node, a laptop on a train). This template carries pinned copies
instead, as base64 data URIs (no `</script>` or `{placeholder}` in a library can break the
page), and leaves out DVC's `{scripts}` placeholder, so nothing is fetched. `.dvc/config`
names it (`plots.html_template`). It is committed; run this script only to change a pin:

    python workflow/scripts/dvc_plots_template.py            # npm pack, checked against PINS
    python workflow/scripts/dvc_plots_template.py --from DIR # the three .tgz files already in DIR

Each tarball is checked against the npm registry's sha512 integrity recorded in PINS before
anything is taken from it; tests/test_docs.py checks the committed template against PINS.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from spndl.fsutil import write_text

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "workflow/report/dvc-plots.html"

# package, version, the file of its build that a browser loads, npm's dist.integrity.
# The majors are the ones DVC's renderer writes its specs for (dvc_render.vega: Vega 5,
# Vega-Lite 5, vega-embed 6); all three are BSD-3-Clause.
PINS = (
    ("vega", "5.33.1", "build/vega.min.js",
     "sha512-1fArfVDUqVbb5z8n+/nVQb+VNBzx8svY6CrsyTK4Ujm4yrd9I1auoKxBAPXLCavY1LcrbHUskQbGUP8gXOzyQw=="),
    ("vega-lite", "5.23.0", "build/vega-lite.min.js",
     "sha512-l4J6+AWE3DIjvovEoHl2LdtCUkfm4zs8Xxx7INwZEAv+XVb6kR6vIN1gt3t2gN2gs/y4DYTs/RPoTeYAuEg6mA=="),
    ("vega-embed", "6.29.0", "build/vega-embed.min.js",
     "sha512-PmlshTLtLFLgWtF/b23T1OwX53AugJ9RZ3qPE2c01VFAbgt3/GSNI/etzA/GzdrkceXFma+FDHNXUppKuM0U6Q=="),
)

PAGE = """<!DOCTYPE html>
<!-- The page of `dvc plots show` (.dvc/config: plots.html_template), readable offline.
     Written by workflow/scripts/dvc_plots_template.py; do not edit by hand.
{pins}
-->
<html>
<head>
    {{refresh_tag}}
    <meta charset="utf-8">
    <title>spndl: training curves (DVC plots)</title>
{scripts}
    <style>
        body {{ font-family: sans-serif; }}
        table {{ border-spacing: 15px; }}
    </style>
</head>
<body>
    <p>Per-epoch curves of <code>results/NAME/metrics/</code>, drawn with the Vega libraries this page
       carries (no network). Runs of the embedded default train on SYNTHETIC data, not on the real
       datasets: <code>results/NAME/tables/</code> says which data each run used.</p>
    {{plot_divs}}
</body>
</html>
"""


def integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def library(tgz: bytes, name: str, version: str, member: str, expected: str) -> bytes:
    """The file ``member`` of the npm tarball ``tgz``, after checking the tarball's integrity."""
    got = integrity(tgz)
    if got != expected:
        sys.exit(f"{name}@{version}: tarball integrity {got}, not the pinned {expected}")
    with tarfile.open(fileobj=io.BytesIO(tgz)) as tar:
        return tar.extractfile(f"package/{member}").read()


def page(libraries: list[tuple[str, str, bytes]]) -> str:
    pins = "\n".join(f"     {name}@{version} sha256 {hashlib.sha256(js).hexdigest()}"
                     for name, version, js in libraries)
    scripts = "\n".join(f'    <script src="data:text/javascript;base64,{base64.b64encode(js).decode()}"></script>'
                        for _, _, js in libraries)
    return PAGE.format(pins=pins, scripts=scripts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--from", dest="source", help="folder holding the .tgz files of `npm pack` (default: run it)")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(a.source or tmp)
        if not a.source:
            subprocess.run(["npm", "pack", "--silent", *(f"{n}@{v}" for n, v, _, _ in PINS)], cwd=folder, check=True,
                           stdout=subprocess.DEVNULL)
        libraries = [(n, v, library((folder / f"{n}-{v}.tgz").read_bytes(), n, v, m, i)) for n, v, m, i in PINS]
    write_text(TEMPLATE, page(libraries))  # atomic: the committed template is never left half-written
    print(f"wrote {TEMPLATE} ({TEMPLATE.stat().st_size // 1024} KiB): "
          + ", ".join(f"{n}@{v}" for n, v, _ in libraries))
    return 0


if __name__ == "__main__":
    sys.exit(main())
