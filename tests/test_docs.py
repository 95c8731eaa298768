"""What README.md and docs/ promise a reader: links that lead somewhere, commands that parse,
a rule graph that is the Snakefile's, lint notes that are the documented ones, and a DVC
plots page that draws without a network."""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import io
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
sys.path.insert(0, str(REPO / "workflow/scripts"))

import dvc_plots_template  # noqa: E402
import rulegraph  # noqa: E402

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|<img [^>]*src=\"([^\"]+)\"")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)


def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())  # a link: its text
    text = re.sub(r"[`*]", "", text)  # code and emphasis marks; underscores stay, as GitHub keeps them
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    body = FENCE.sub("", page.read_text())
    return {_slug(h) for h in re.findall(r"^#+\s+(.+)$", body, re.M)}


def links():
    for page in PAGES:
        body = FENCE.sub("", page.read_text())
        for m in LINK.finditer(body):
            target = m.group(1) or m.group(2)
            if not re.match(r"[a-z]+:", target):
                yield pytest.param(page, target, id=f"{page.relative_to(REPO)}:{target}")


def _shell_commands(line: str):
    """The simple commands of a shell line (split at &&, ||, ;, |), as word lists."""
    lex = shlex.shlex(line, posix=True, punctuation_chars=True)
    lex.whitespace_split, lex.commenters = True, "#"
    words: list[str] = []
    for token in lex:
        if token in ("&&", "||", ";", "|", "&"):
            yield words
            words = []
        else:
            words.append(token)
    yield words


def commands():
    """Every `spndl ...` and `snakemake ...` command quoted in a code block of README or docs/."""
    for page in PAGES:
        for block in FENCE.findall(page.read_text()):
            for line in block.replace("\\\n", " ").splitlines():
                try:
                    found = list(_shell_commands(line))
                except ValueError:  # not shell (Python, YAML): fine unless it names a command
                    assert not re.search(r"(^|/)(spndl|snakemake) ", line.strip()), f"{page}: {line}"
                    continue
                for words in found:
                    while words and "=" in words[0] and not words[0].startswith("-"):
                        words = words[1:]  # VAR=value before the command
                    if words and Path(words[0]).name in ("spndl", "snakemake"):
                        words = [Path(words[0]).name, *words[1:]]
                        yield pytest.param(words, id=f"{page.relative_to(REPO)}:{' '.join(words)[:60]}")


def mentions():
    """Every `spndl ...` and `snakemake ...` quoted inline, in running text or a table: often a
    synopsis (`spndl verify SNAPSHOT [--retrain ...]`) or a bare name (`spndl train`)."""
    for page in PAGES:
        for span in re.findall(r"`([^`\n]+)`", FENCE.sub("", page.read_text())):
            words = span.replace("\\|", "|").split()
            if words and words[0] in ("spndl", "snakemake") and not (len(words) > 1 and words[1].endswith(":")):
                yield pytest.param(words, id=f"{page.relative_to(REPO)}:{span[:60]}")


def _options(words):
    """(the parser's option strings, its subcommands) for the command that ``words`` names."""
    if words[0] == "snakemake":
        from snakemake.cli import get_argument_parser

        return set(get_argument_parser()._option_string_actions), None
    from spndl.cli import parser

    commands = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    if len(words) < 2 or words[1].startswith("-"):
        return set(), commands
    assert words[1] in commands, f"spndl has no command {words[1]!r} (it has {', '.join(commands)})"
    return set(commands[words[1]]._option_string_actions), commands


def test_the_readme_is_short_and_starts_with_the_two_commands():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines"
    first = FENCE.search((REPO / "README.md").read_text()).group(1).splitlines()
    assert len(first) == 2 and "snakemake --profile workflow/profiles/default" in first[0]
    # CI runs the README's test command as it is written there.
    assert first[1] in (REPO / ".ci/run").read_text()
    assert (REPO / "docs").is_dir() and len(PAGES) > 5


@pytest.mark.parametrize("page, target", list(links()))
def test_every_relative_link_resolves(page, target):
    path, _, anchor = target.partition("#")
    dest = (page.parent / path).resolve() if path else page
    assert dest.exists(), f"{page.relative_to(REPO)}: {target} leads nowhere"
    if anchor and dest.suffix == ".md":
        assert anchor in _anchors(dest), f"{page.relative_to(REPO)}: no heading #{anchor} in {dest.name}"


# Snakemake's options that print or check the workflow instead of running it: parsed, not dry-run.
NOT_A_RUN = {"--report", "--lint", "--rulegraph", "--dag", "--filegraph", "--summary", "--list-rules", "--help",
             "--unlock", "--cleanup-metadata"}


@pytest.mark.parametrize("words", list(commands()))
def test_every_quoted_command_parses(words, tmp_path):
    from overlays import placeholder_overlay

    # The real-data overlay names the licensed copies' paths: placeholders stand in for them here.
    words = [str(placeholder_overlay(tmp_path)) if w == "workflow/real-data.yaml" else w.replace("gpu=N", "gpu=1")
             for w in words]
    if words[0] == "spndl":
        from spndl.cli import parser

        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                parser().parse_args(words[1:])
            except SystemExit as e:
                assert e.code == 0, f"{shlex.join(words)}: {err.getvalue().strip()}"
        return
    if NOT_A_RUN & {w.split("=")[0] for w in words}:
        from snakemake.cli import get_argument_parser

        get_argument_parser().parse_args(words[1:])
        return
    # A dry run from the repository's root, as the reader would type it: the profile, config
    # files and targets it names must exist, and the DAG must build.
    r = subprocess.run([sys.executable, "-m", *words, "-n", "--quiet"], cwd=REPO, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, f"{shlex.join(words)} -n:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"


def test_the_committed_rule_graph_is_the_snakefiles():
    committed = (REPO / "docs/images/rulegraph.dot").read_text()
    assert rulegraph.rule_edges(committed) == rulegraph.rule_edges(rulegraph.rulegraph()), \
        "the rule graph changed: run python workflow/scripts/rulegraph.py"
    svg = (REPO / "docs/images/rulegraph.svg").read_text()
    for rule in {r for edge in rulegraph.rule_edges(committed) for r in edge}:
        assert f">{rule}</text>" in svg, f"docs/images/rulegraph.svg does not show rule {rule}"


def test_snakemake_lint_gives_only_the_documented_note():
    r = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=REPO, capture_output=True, text=True,
                       timeout=600)
    notes = set(re.findall(r"^\s+\* (.+?):?$", r.stdout + r.stderr, re.M))
    documented = "Specify a conda environment or container for each rule."
    assert notes == {documented}, notes
    assert documented.rstrip(".") in " ".join((REPO / "docs/pipeline.md").read_text().split())


def _scripts(page: str) -> list[bytes]:
    return [base64.b64decode(s) for s in re.findall(r'<script src="data:text/javascript;base64,([^"]+)"', page)]


def test_the_dvc_plots_template_carries_the_pinned_libraries():
    page = dvc_plots_template.TEMPLATE.read_text()
    assert "{plot_divs}" in page and "{scripts}" not in page  # {scripts} is where DVC puts its CDN links
    assert not re.search(r"<script[^>]+src=\"https?:", page)
    pinned = re.findall(r"^\s+([\w-]+)@([\d.]+) sha256 ([0-9a-f]{64})$", page, re.M)
    assert [(n, v) for n, v, _ in pinned] == [(n, v) for n, v, _, _ in dvc_plots_template.PINS]
    assert [hashlib.sha256(js).hexdigest() for js in _scripts(page)] == [h for _, _, h in pinned]
    config = (REPO / ".dvc/config").read_text()
    assert re.search(r"^\[plots\]\n\s+html_template = \.\./workflow/report/dvc-plots\.html$", config, re.M)


def _offline(cmd):
    """``cmd`` with no network: in a network namespace of its own (loopback only) where this
    machine allows one, else with Chromium's name resolution and proxy pointed at nothing."""
    for prefix in (["unshare", "--net"], ["unshare", "--map-root-user", "--net"]):
        if shutil.which("unshare") and subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
            return [*prefix, *cmd]
    return [*cmd, "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9"]


def _drawn_pixels(png: Path) -> int:
    """Pixels of colour (the curves, the legend, vega's slider) in a screenshot; text is grey."""
    import numpy as np
    from PIL import Image

    hsv = np.asarray(Image.open(png).convert("HSV"))
    return int(((hsv[..., 1] > 60) & (hsv[..., 2] > 60)).sum())


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="Chromium is not installed (.ci/run installs it)")
def test_dvc_plots_show_draws_its_curves_with_the_network_off(tmp_path):
    repo = tmp_path / "repo"
    metrics = repo / f"results/{PARAMS['preset']}-{PARAMS['data']['source']}/metrics"  # dvc.yaml's configuration
    metrics.mkdir(parents=True)
    (repo / ".dvc").mkdir()
    shutil.copy(REPO / "dvc.yaml", repo)
    (repo / "workflow/report").mkdir(parents=True)
    shutil.copy(dvc_plots_template.TEMPLATE, repo / "workflow/report")
    shutil.copy(REPO / "workflow/report/per_fold_template.json", repo / "workflow/report")
    shutil.copy(REPO / "params.yaml", repo)
    for csv in (REPO / "results/synthetic_full/metrics").glob("curve*.csv"):
        shutil.copy(csv, metrics)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    dvc = str(Path(sys.executable).with_name("dvc"))
    pixels = {}
    configs = {"offline": (REPO / ".dvc/config").read_text(), "dvc's own": "[core]\n    analytics = false\n"}
    for name, config in configs.items():
        (repo / ".dvc/config").write_text(config)
        out = tmp_path / name.replace(" ", "_").replace("'", "")
        r = subprocess.run([dvc, "plots", "show", "-o", str(out)], cwd=repo, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, r.stderr
        shot = out / "shot.png"
        chromium = ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900",
                    "--virtual-time-budget=15000", f"--screenshot={shot}", (out / "index.html").as_uri()]
        subprocess.run(_offline(chromium),
                       capture_output=True, timeout=300, check=True)
        pixels[name] = _drawn_pixels(shot)
    # DVC's own page stays blank without its CDN; the offline template draws the two charts.
    assert pixels["dvc's own"] < 200 and pixels["offline"] > 5000, pixels


@pytest.mark.parametrize("words", list(mentions()))
def test_every_command_mentioned_in_the_text_exists_with_its_options(words):
    options, _ = _options(words)
    for w in words[1:]:
        if re.match(r"--?[a-z]", w):
            name = re.match(r"--?[\w-]+", w).group(0)
            assert name in options, f"{' '.join(words)}: no option {name}"


def test_dvc_plots_draw_the_per_fold_curves_one_panel_per_series(tmp_path):
    """The per-fold plots of dvc.yaml resolve their template and read every run's epochs."""
    import json

    metrics = tmp_path / f"results/{PARAMS['preset']}-{PARAMS['data']['source']}/metrics"
    metrics.mkdir(parents=True)
    (tmp_path / "workflow/report").mkdir(parents=True)
    for f in ("dvc.yaml", "params.yaml", "workflow/report/per_fold_template.json"):
        shutil.copy(REPO / f, tmp_path / f)
    shutil.copy(REPO / "results/synthetic_full/metrics/curves_per_fold.csv", metrics)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    dvc = str(Path(sys.executable).with_name("dvc"))
    subprocess.run([dvc, "init", "-q"], cwd=tmp_path, check=True)
    r = subprocess.run([dvc, "plots", "show", "--json"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    plots = {k: v[0]["content"] for k, v in json.loads(r.stdout)["data"].items() if "per fold" in k}
    rows = len((metrics / "curves_per_fold.csv").read_text().splitlines()) - 1
    assert len(plots) == 2 and all(p["facet"]["field"] == "series" and len(p["data"]["values"]) == rows
                                   for p in plots.values()), list(plots)
