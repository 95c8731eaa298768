"""The whole Snakemake DAG on the tiny synthetic config (workflow/tests/params-tiny.yaml)."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from PIL import Image

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
TINY = str(REPO / "workflow/tests/params-tiny.yaml")
CFG = "tiny-synthetic"   # the tiny configuration's folders: runs/CFG, results/CFG (spndl.configuration)


def snakemake(workdir, *args, configs=(), check=True):
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", TINY, *map(str, configs), *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if check and r.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r.stdout + r.stderr


def job_counts(text):
    """Rule -> job count from snakemake's 'Job stats' table."""
    block = text.split("Job stats:", 1)[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", block, re.M)}


def _checkpoint_epochs(wd, cache):
    """Run folder -> (epoch of its checkpoint, whether that was the last epoch) for each run
    with a checkpoint and no metrics.json; ``cache`` keeps what a file's mtime already told."""
    from spndl.checkpoint import load

    out = {}
    for c in wd.glob(f"runs/{CFG}/*/*/*/*/checkpoint.pt"):
        if (c.parent / "metrics.json").exists():
            continue
        try:
            key = (c, c.stat().st_mtime_ns)
            if key not in cache:
                ck = load(c)
                # The last epoch's checkpoint drops the optimizer state (spndl.training.runfolder).
                cache[key] = (int(ck["epoch"]), ck["optimizer"] is None)
            out[c.parent] = cache[key]
        except (OSError, ValueError):  # replaced or finished while being read: next poll
            continue
    return out


def _interrupt_during_training(wd):
    """Start the DAG, kill it (the whole process group, as Ctrl-C would) once one training job
    has finished and another is between epochs with epochs still to go; return what was
    finished and, for each run cut, its checkpoint's epoch and whether that was its last."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(wd),
           "--configfile", TINY, "--cores", "2", "--resources", "gpu=1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 900
    seen: dict[Path, float] = {}
    cache: dict = {}
    settled = 5.0  # seconds: by then Snakemake has recorded the job as finished
    while time.monotonic() < deadline and proc.poll() is None:
        now = time.monotonic()
        for p in wd.glob(f"runs/{CFG}/*/*/*/*/metrics.json"):
            seen.setdefault(p, now)
        if any(now - t > settled for t in seen.values()):
            # A checkpoint of the last epoch is a run about to write its outputs, not one to resume.
            if any(not last for _, last in _checkpoint_epochs(wd, cache).values()):
                break
        time.sleep(0.05)
    killed_at = time.monotonic()
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(120)
    finished = {p: p.stat().st_mtime_ns for p, t in seen.items() if killed_at - t > settled}
    return finished, _checkpoint_epochs(wd, {})


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    wd = tmp_path_factory.mktemp("pipeline")
    finished, cut = _interrupt_during_training(wd)
    # The profile's rerun-incomplete, as a user restarting the same command gets it.
    snakemake(wd, "--cores", "2", "--resources", "gpu=1", "--rerun-incomplete")
    return SimpleNamespace(path=wd, finished=finished, cut=cut)


def test_a_killed_run_keeps_finished_folds_and_resumes_the_interrupted_one(pipeline):
    assert pipeline.finished, "no training job had finished when the run was killed"
    assert any(not last for _, last in pipeline.cut.values()), "the run was not caught between epochs"
    for path, mtime in pipeline.finished.items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was recomputed"
    for run, (epoch, last) in pipeline.cut.items():
        rel = run.relative_to(pipeline.path)
        log = (pipeline.path / "logs/train" / rel.relative_to("runs")).with_suffix(".log").read_text()
        # After any line on the killed process's temporaries it removed (spndl.fsutil).
        lines = [line for line in log.splitlines() if not line.startswith("removed ")]
        # A run killed after its last epoch's checkpoint has nothing to train: it writes its outputs.
        expected = f"{rel} has finished all {epoch} epochs" if last else f"resuming {rel} at epoch {epoch + 1} "
        assert lines[0].startswith(expected), log[:300]
        assert (run / "metrics.json").is_file()


@pytest.fixture
def workdir(pipeline):
    return pipeline.path


def test_tables_have_numbers_equal_to_the_fold_means(workdir):
    per_fold = pd.read_csv(workdir / f"results/{CFG}/tables/per_fold.csv")
    means = per_fold.groupby(["dataset", "variant"])["accuracy"].mean() * 100
    for n, ds in ((1, "ckplus"), (2, "oulu"), (3, "rafdb")):
        t = pd.read_csv(workdir / f"results/{CFG}/tables/table{n}.csv")
        assert t["paper"].notna().all()
        rep = t[t["source"] == "reproduced"]
        assert len(rep) >= 2 and rep[["reproduced_mean", "reproduced_std"]].notna().all().all()
        assert rep["difference"].isna().all()  # synthetic minus the paper's real-data number: none
        variant = {"Baseline (ResNet-18)": "baseline", "SPNDL": "spndl",
                   "SPNDL (w/o neutral image)": "spndl_wo_neutral"}
        for r in rep.itertuples():
            assert abs(r.reproduced_mean - means[(ds, variant[r.method])]) < 1e-9
        assert "SYNTHETIC" in (workdir / f"results/{CFG}/tables/table{n}.md").read_text()
    t4 = pd.read_csv(workdir / f"results/{CFG}/tables/table4.csv")
    vs = [c for c in t4.columns if "_vs_baseline" in c]
    diffs = [c for c in t4.columns if c.endswith("_difference")]
    assert t4.drop(columns=["NDFs", "SPL", "variant", *vs, *diffs]).notna().all().all() and t4[diffs].isna().all().all()
    # Each row's paired difference to the baseline is there; from two folds, no interval or p.
    assert t4.loc[t4["variant"] != "baseline", ["ckplus_vs_baseline", "oulu_vs_baseline"]].notna().all().all()
    assert t4[[c for c in vs if c.endswith("_p")]].isna().all().all()
    headline = json.loads((workdir / f"results/{CFG}/metrics/headline.json").read_text())
    assert abs(headline["oulu"]["spndl"]["accuracy_mean"] - means[("oulu", "spndl")]) < 1e-3
    # One fold and two seeds: every claim is listed, and none gets a verdict from so few runs.
    claims = pd.read_csv(workdir / f"results/{CFG}/tables/claims.csv")
    assert len(claims) == 16 and (claims["verdict"] == "too few runs").all() and claims["p_value"].isna().all()


def test_figures_are_valid_pngs_and_the_report_is_built(workdir):
    figs = sorted((workdir / f"results/{CFG}/figures").glob("*.png"))
    assert [f.name for f in figs] == ["curves_per_fold.png", "fig4_confusion.png", "fig5_paces.png",
                                      "fig6_losses.png", "fig7_tsne.png", "fig8_excluded.png"]
    for f in figs:
        with Image.open(f) as im:
            im.verify()
            assert im.format == "PNG" and im.size[0] > 300
    # Fig. 7's exported NDFs are its own declared output, not files in the training job's folder.
    assert sorted(p.name for p in (workdir / f"results/{CFG}/figures/fig7_tsne_features").glob("*.npz")) == \
        ["pace1.npz", "pace2.npz"]
    assert not list((workdir / "runs").rglob("*_features.npz"))
    snakemake(workdir, "--report", f"results/{CFG}/report.html")
    html = (workdir / f"results/{CFG}/report.html").read_text()
    assert "fig7_tsne.png" in html and "table1.csv" in html
    # Every run's model card is linked from the report.
    cards = sorted(workdir.glob(f"runs/{CFG}/*/*/*/*/MODEL_CARD.md"))
    assert len(cards) == 26 and html.count("MODEL_CARD.md") >= 26


def test_job_times_cover_every_job_of_the_dag(workdir):
    jobs = pd.read_csv(workdir / f"results/{CFG}/tables/job_times.csv")
    counts = jobs["rule"].value_counts().to_dict()
    assert counts == {"train": 26, "check_data": 3, "prepare": 3, "synth": 1, "tables": 1, "fig4": 1, "fig5": 1,
                      "fig6": 1, "fig7": 1, "fig8": 1, "curves": 1}
    assert (jobs["seconds"] > 0).all()
    assert "| train | 26 |" in (workdir / f"results/{CFG}/tables/job_times.md").read_text()


def test_a_second_run_has_nothing_to_do(workdir):
    assert "Nothing to be done" in snakemake(workdir, "-n")


def test_adding_a_seed_trains_only_the_new_seeds_runs(workdir, tmp_path):
    override = tmp_path / "seeds.yaml"
    override.write_text("presets:\n  tiny:\n    seeds: [0, 1, 2]\n")
    plan = snakemake(workdir, "-n", configs=[override])
    counts = job_counts(plan)
    assert counts["train"] == 13  # every dataset and variant once, for seed 2 alone
    assert "synth" not in counts and "prepare" not in counts and counts["tables"] == 1
    seeds = re.findall(r"^\s*wildcards: dataset=\w+, variant=\w+, fold=\w+, seed=(\d+)$", plan, re.M)
    assert seeds == ["2"] * 13, plan[-3000:]


def _digests(root: Path) -> dict[str, str]:
    import hashlib

    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_other_configurations_keep_their_own_runs_and_tables(workdir, tmp_path):
    """Another preset, then the same preset with one training setting changed: the first
    configuration's runs and tables stay byte for byte, and each configuration has its own."""
    first = {f: _digests(workdir / f) for f in (f"runs/{CFG}", f"results/{CFG}")}
    # A changed setting under the same name: a one-line refusal before any job, nothing written.
    changed = tmp_path / "lr.yaml"
    changed.write_text("presets:\n  tiny:\n    config_rafdb:\n      train: {epochs: 3, lr: 0.0005}\n")
    r = snakemake(workdir, "-n", configs=[changed], check=False)
    assert f"runs/{CFG}: made with other settings (rafdb: run.train.lr: unset -> 0.0005)" in r, r[-2000:]
    assert "--config name=NEW" in r
    # Kept apart under a name of its own (RAF-DB's baseline alone, one seed: one run), and another
    # preset beside both; the data are shared, not prepared again.
    small = tmp_path / "small.yaml"
    small.write_text("datasets: [rafdb]\nvariants:\n  rafdb: [baseline]\npresets:\n  tiny:\n    seeds: [0]\n"
                     "  tiny_b:\n    image_size: 32\n"
                     "    folds: [0]\n    seeds: [0]\n    config:\n      train: {epochs: 3, batch_size: 8}\n"
                     "      spl: {paces: 2, step: 0.5}\n")
    for extra, name in (([], "tiny_b-synthetic"), ([changed], "lr-half")):
        override = ["--config", f"name={name}"] if name == "lr-half" else ["--config", "preset=tiny_b"]
        out = snakemake(workdir, "--cores", "2", "--resources", "gpu=1", *override, configs=[small, *extra])
        counts = job_counts(out)
        assert counts["train"] == 1 and "prepare" not in counts and "synth" not in counts, counts
        assert (workdir / f"results/{name}/tables/table3.md").is_file()
        assert len(list(workdir.glob(f"runs/{name}/rafdb/*/split/seed0/metrics.json"))) == 1
    assert "batch_size: 8" in (workdir / "runs/tiny_b-synthetic/rafdb/baseline/split/seed0/config.yaml").read_text()
    assert "lr: 0.0005" in (workdir / "runs/lr-half/rafdb/baseline/split/seed0/config.yaml").read_text()
    assert {f: _digests(workdir / f) for f in first} == first
    assert "Nothing to be done" in snakemake(workdir, "-n")


def _boxes(html: Path, tmp_path: Path) -> dict:
    """The report's front page laid out by headless Chromium at 1400 px: the rule graph's box,
    each front-page table's box and header, the page's text (a script added to a copy of it
    writes them into the page, and --dump-dom reads them back)."""
    probe = tmp_path / "probe.html"
    script = """<script>(function poll() {
      var d = document.querySelector('#app .document'), drawn = document.querySelector('#app .vega-embed');
      var tables = d ? d.querySelectorAll('table') : [];
      if (!drawn || !tables.length || drawn.getBoundingClientRect().width === 0) { return setTimeout(poll, 100); }
      var box = function (e) { var b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
      var out = {graph: box(drawn), tables: [].map.call(tables, function (t) {
        return {box: box(t), header: t.querySelector('tr').innerText}; }), text: d.innerText};
      var pre = document.createElement('pre'); pre.id = 'spndl-boxes'; pre.textContent = JSON.stringify(out);
      document.body.appendChild(pre); })();</script>"""
    head, _, tail = html.read_text().rpartition("</body>")  # the last: the page's own, not one in a string
    probe.write_text(head + script + "</body>" + tail)
    cmd = ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900",
           "--virtual-time-budget=20000", "--dump-dom", probe.as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True).stdout
    found = re.search(r'<pre id="spndl-boxes">(.*?)</pre>', dom, re.S)
    assert found, "the report's front page never showed its tables and rule graph"
    import html as html_lib

    return json.loads(html_lib.unescape(found.group(1)))


@pytest.mark.skipif(subprocess.run(["which", "chromium"], capture_output=True).returncode != 0,
                    reason="Chromium is not installed (.ci/run installs it)")
def test_the_report_opens_with_this_runs_claims_and_nothing_overlaps(workdir, tmp_path):
    report = workdir / f"results/{CFG}/report.html"
    if not report.is_file():
        snakemake(workdir, "--report", f"results/{CFG}/report.html")
    page = _boxes(report, tmp_path)
    text = page["text"]
    ours, snapshot = text.index(f"This report: configuration {CFG}"), text.index("The published snapshot's claims")
    assert ours < text.index("Tables 1-4 against the paper") < snapshot
    headers = [t["header"] for t in page["tables"]]
    assert f"{CFG} [95%] (runs)" in headers[0] and "Snapshot [95%] (runs)" in headers[-1], headers

    def overlap(a, b):
        return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]

    boxes = [t["box"] for t in page["tables"]]
    assert not any(overlap(page["graph"], b) for b in boxes), (page["graph"], boxes)
    assert not any(overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]), boxes


def test_the_evidence_is_a_target_of_the_same_dag(workdir):
    """`snakemake evidence` reuses the tables' baseline and NDF runs and adds only the control."""
    counts = job_counts(snakemake(workdir, "-n", "evidence"))
    assert counts == {"train": 4, "evidence": 1, "total": 5}, counts  # ckplus and oulu, fold 0, seeds 0 and 1
    snakemake(workdir, "--cores", "2", "evidence", "--resources", "gpu=1")
    folds = pd.read_csv(workdir / f"results/{CFG}/evidence/evidence_folds.csv")
    per_fold = pd.read_csv(workdir / f"results/{CFG}/tables/per_fold.csv")
    for arm in ("baseline", "ndf"):
        ours = folds[folds["arm"] == arm].merge(per_fold[per_fold["variant"] == arm], on=["dataset", "fold", "seed"])
        assert len(ours) == 4 and (ours["accuracy_x"] == ours["accuracy_y"]).all()
    for run in workdir.glob(f"runs/{CFG}/*/ndf_other_subject/*/*"):
        assert "reference: other_subject" in (run / "config.yaml").read_text()
    tests = pd.read_csv(workdir / f"results/{CFG}/evidence/evidence_tests.csv")
    assert sorted(tests["comparison"]) == ["ndf - baseline"] * 2 + ["ndf - ndf_other_subject"] * 2
    wide = folds.pivot_table(index=["dataset", "fold", "seed"], columns="arm", values="accuracy") * 100
    for r in tests.itertuples():
        a, b = r.comparison.split(" - ")
        assert r.difference == pytest.approx((wide[a] - wide[b]).loc[r.dataset].mean()) and r.runs == 2
    assert (workdir / f"results/{CFG}/evidence/evidence.md").read_text().startswith("Synthetic data")


def test_real_sources_are_acquired_and_checked_and_a_deviation_stops_before_preparation(synth_root, tmp_path):
    from archives import ckplus_zips, unmarked

    from spndl.fsutil import sha256_file

    # A path with a space and a quote: the acquire rule hands it to the shell intact.
    zips = ckplus_zips(unmarked(synth_root / "ckplus", tmp_path / "real-like"), tmp_path / "owner's copies",
                       nested=True)
    real = {"datasets": ["ckplus"],
            "data": {"source": "real", "real": {"ckplus": {"sources": [str(z) for z in zips],
                                                           "sha256": [sha256_file(zips[0]), "-", "-"]}}}}
    cfg = tmp_path / "real.yaml"
    cfg.write_text(json.dumps(real))
    wd = tmp_path / "wd"
    from spndl import configuration

    key = configuration.prepared_key(configuration.merged_params([REPO / "params.yaml", TINY, cfg]), "ckplus")
    r = snakemake(wd, "--cores", "2", f"data/prepared/{key}/ckplus", configs=[cfg], check=False)
    # The tiny copy is far from the paper's 981 pairs: the report reaches the console and nothing is prepared.
    assert "samples" in r and "981" in r and "stopping" in r
    assert not (wd / f"data/prepared/{key}/ckplus").exists()
    assert sorted(p.name for p in (wd / "data/raw/archives/ckplus").glob("*.zip")) == sorted(z.name for z in zips)
    acquired = json.loads((wd / "data/raw/ckplus/spndl-acquired.json").read_text())
    assert acquired["sources"][0]["sha256_expected"] == sha256_file(zips[0])
    # Allowed in params: preparation goes on, and the acquisition record travels with the prepared data.
    real["data"]["allow_deviation"] = ["ckplus"]
    cfg.write_text(json.dumps(real))
    snakemake(wd, "--cores", "2", f"data/prepared/{key}/ckplus", configs=[cfg])
    info = json.loads((wd / f"data/prepared/{key}/ckplus/dataset.json").read_text())
    assert info["counts"]["samples"] == 81 and not info["synthetic"]
    assert info["acquired"]["sources"][0]["sha256"] == sha256_file(zips[0])
    assert json.loads((wd / f"data/checks/{key}/ckplus.json").read_text())["allowed"]


def _spndl(cwd, *args):
    return subprocess.run([sys.executable, "-m", "spndl", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=900)


def test_a_published_snapshot_verifies_names_a_changed_metric_and_retrains_bit_for_bit(workdir, tmp_path):
    import shutil

    snap = tmp_path / "snapshot"
    r = _spndl(workdir, "publish", "--out", snap, "--preset", "tiny", "--params", REPO / "params.yaml",
               "--params", TINY, "--command", "snakemake --configfile params-tiny.yaml", "--wall-s", "60")
    assert r.returncode == 0, r.stderr
    assert not list(snap.rglob("checkpoint.pt"))
    run = snap / "runs/ckplus/baseline/fold0/seed0"
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml", "history.csv", "metrics.json", "predictions.csv",
                                                     "spl_selection.csv"]
    assert "SYNTHETIC" in (snap / "PROVENANCE.md").read_text()
    r = _spndl(workdir, "verify", snap)
    assert r.returncode == 0 and "identical" in r.stdout, r.stdout + r.stderr

    changed = tmp_path / "changed"
    shutil.copytree(snap, changed)
    m = changed / "runs/oulu/ndf/fold0/seed1/metrics.json"
    record = json.loads(m.read_text())
    record["accuracy"] = record["accuracy"] + 0.01
    m.write_text(json.dumps(record, indent=2) + "\n")
    r = _spndl(workdir, "verify", changed)
    assert r.returncode == 3
    assert f"{m}: differs from its checksum" in r.stdout
    assert f"{changed / 'tables/claims.csv'}: differs from the one rebuilt" in r.stdout
    assert f"{changed / 'tables/per_fold.csv'}: differs from the one rebuilt" in r.stdout

    r = _spndl(workdir, "verify", snap, "--retrain", "ckplus/baseline/0/0", "--work", tmp_path / "work")
    assert r.returncode == 0 and "1 retrained run(s): identical" in r.stdout, r.stdout + r.stderr
    # The run was trained anew in the work folder, from data regenerated there.
    assert (tmp_path / "work/run/checkpoint.pt").is_file() and (tmp_path / "work/prepared/ckplus").is_dir()
    # A folder of the user's is never taken as the work folder (its run/ would be replaced).
    mine = tmp_path / "mine"
    (mine / "run").mkdir(parents=True)
    (mine / "run" / "notes.txt").write_text("mine")
    r = _spndl(workdir, "verify", snap, "--retrain", "ckplus/baseline/0/0", "--work", mine)
    assert r.returncode == 2 and "not a work folder of spndl verify --retrain" in r.stderr
    assert (mine / "run" / "notes.txt").read_text() == "mine"
