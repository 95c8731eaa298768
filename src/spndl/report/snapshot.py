"""A published snapshot of a pipeline's results (``spndl publish``), checkable on any
machine (``spndl verify``).

The pipeline's working outputs (runs/NAME with checkpoints, data/, results/NAME) are
DVC's and change with every run; a snapshot is a copy fixed in git: the run records
(config.yaml, metrics.json, history.csv, predictions.csv, spl_selection.csv; no
checkpoints), the tables and claims rebuilt from exactly those records, the figures
and job times as the pipeline drew them, the data's check and preparation records,
``snapshot.json`` (what regenerates the data and the command that ran) with its
``PROVENANCE.md``, and ``MANIFEST.sha256`` of every file.

``verify`` checks a snapshot in two ways:

- every file against the manifest, and the tables and claims rebuilt from the
  committed run records against the committed ones; each file that differs is named;
- ``retrain``: one run trained again from its committed config.yaml on data
  regenerated from snapshot.json (its checksum checked first), its metrics.json and
  predictions.csv compared bit for bit.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import yaml

from spndl.data.records import DataError
from spndl.data.registry import DATASETS
from spndl.ownership import atomic_dir
from spndl.report.runkey import dataset_name, parse_run_path, run_key

RECORDS = ("config.yaml", "metrics.json", "history.csv", "predictions.csv", "spl_selection.csv")
MANIFEST = "MANIFEST.sha256"
OWN_RECORD = ".spndl-outputs.json"   # spndl.ownership's record: local bookkeeping, not results
TABLES = "tables"
METRICS = "metrics"


class VerifyError(DataError):
    pass


def run_folder(row, where: str) -> str:
    """A per_fold.csv row's run folder, relative: DATASET/VARIANT/foldK|split/seedN, from
    fields checked first (spndl.report.runkey: ``where`` names the file)."""
    return run_key(row["dataset"], row["variant"], row["fold"], row["seed"], where).path


def _is_snapshot(path: Path) -> bool:
    return (path / "snapshot.json").is_file()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and p.name not in (MANIFEST, OWN_RECORD))


def write_manifest(root: Path) -> None:
    lines = [f"{_sha256(root / f)}  {f}" for f in _files(root)]
    (root / MANIFEST).write_text("\n".join(lines) + "\n")


def rebuild_tables(snapshot: Path, out: Path) -> None:
    """Tables, claims and headline metrics from the snapshot's run records alone, into ``out``
    (``tables/`` and ``metrics/`` beneath), as the pipeline's tables rule builds them."""
    from spndl.report.tables import write_tables

    meta = json.loads((snapshot / "snapshot.json").read_text())
    runs = [snapshot / "runs" / parse_run_path(r, str(snapshot / "snapshot.json")).path for r in meta["runs"]]
    datasets = [dataset_name(d, str(snapshot / "snapshot.json")) for d in meta["datasets"]]
    write_tables(runs, out / TABLES, out / METRICS,
                 checks=[snapshot / "data" / d / "check.json" for d in datasets],
                 prepared=[snapshot / "data" / d for d in datasets])


def host() -> str:
    """This machine for PROVENANCE.md: its CPU model (spndl.runtime.numerics reads it for the runs too),
    AVX-512 or not, the CPU count."""
    import os
    import platform

    from spndl.runtime.numerics import host_flags, host_model

    avx512 = "AVX-512" if "avx512f" in host_flags() else "no AVX-512"
    return f"{host_model()} ({avx512}), {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}"


def snapshot_meta(params: dict, preset_name: str, command: str, wall_s: float, host_name: str | None = None,
                  where: str = "params") -> dict:
    """snapshot.json's settings from the params the pipeline ran with: what regenerates the data
    (the preset's synthetic size as the pipeline takes it, paths.smk's SYNTH_SIZE), the command,
    its wall time and the host, and the commit of the code that tabulates."""
    from spndl.config import ConfigError
    from spndl.provenance import code_version

    if preset_name not in params.get("presets", {}):
        raise ConfigError(f"{where}: no preset {preset_name!r}")
    if params["data"]["source"] != "synthetic":
        raise ConfigError(f"{where}: data.source is {params['data']['source']}; a published snapshot is of the "
                          "synthetic data (the licensed datasets' runs stay with their owner)")
    preset = params["presets"][preset_name]
    code = code_version()
    commit = (f"{code['git_commit']}{' (with uncommitted changes)' if code['git_dirty'] else ''}"
              if code.get("git_commit") else f"source sha256 {code['source_sha256']}")
    return {"preset": preset_name, "datasets": params["datasets"],
            "synth_size": preset.get("synth_size", params["data"]["synth_size"]),
            "synth_seed": params["data"]["synth_seed"], "image_size": preset["image_size"],
            "images": {d: params["data"]["images"][d] for d in params["datasets"]},
            "fold_rule": params["prepare"]["fold_rule"], "n_folds": params["prepare"]["n_folds"],
            "command": command, "wall_s": wall_s, "host": host_name or host(), "published_by_commit": commit}


def publish(project: str | Path, out: str | Path, meta: dict, params: dict, figures: list[str | Path] = (),
            job_times: list[str | Path] = ()) -> Path:
    """Write the snapshot of ``project``'s finished pipeline to ``out``: the runs of the
    per_fold.csv of the configuration that ``params`` name (spndl.configuration: runs/NAME,
    results/NAME), the data records of ``meta['datasets']``, ``figures`` and ``job_times``
    as they are, and the tables rebuilt from the copied records. ``meta`` (snapshot.json)
    holds the preset, the synthetic data's size and seed, the preparation settings, the
    command and its wall time."""
    from spndl import configuration

    project, out = Path(project), Path(out)
    config_name = configuration.name(params)
    per_fold_csv = project / "results" / config_name / TABLES / "per_fold.csv"
    per_fold = pd.read_csv(per_fold_csv, dtype={"dataset": str, "variant": str}, keep_default_na=False,
                           na_values={"fold": [""]})
    runs = [run_folder(r, str(per_fold_csv)) for _, r in per_fold.iterrows()]
    with atomic_dir(out, _is_snapshot, "a published snapshot (spndl publish)") as tmp:
        for r in runs:
            src, dst = project / "runs" / config_name / r, tmp / "runs" / r
            dst.mkdir(parents=True)
            for name in RECORDS:
                if (src / name).is_file():
                    shutil.copy2(src / name, dst / name)
                elif name != "spl_selection.csv":
                    raise DataError(f"{src / name}: missing; the run is not finished")
        for d in meta["datasets"]:
            (tmp / "data" / dataset_name(d, "the params' datasets")).mkdir(parents=True)
            key = configuration.prepared_key(params, d)
            shutil.copy2(project / "data" / "checks" / key / f"{d}.json", tmp / "data" / d / "check.json")
            shutil.copy2(project / "data" / "prepared" / key / d / "dataset.json", tmp / "data" / d / "dataset.json")
        truth = project / "data" / "raw" / configuration.synth_key(params) / "synth_truth.csv"
        if truth.is_file():  # the generator's record of each sample's true label and flaws
            shutil.copy2(truth, tmp / "data" / "synth_truth.csv")
        for group, files in (("figures", figures), (TABLES, job_times)):
            for f in files:
                (tmp / group).mkdir(exist_ok=True)
                shutil.copy2(f, tmp / group / Path(f).name)
        records = [yaml.safe_load((tmp / "runs" / r / "config.yaml").read_text()) for r in runs]
        trained_by = sorted({c["code"]["git_commit"] or "unknown" for c in records})
        numerics = sorted({json.dumps(c["cpu_numerics"], sort_keys=True) for c in records})
        meta = {**meta, "runs": runs, "trained_by_commits": trained_by,
                "numerics": [json.loads(n) for n in numerics]}
        (tmp / "snapshot.json").write_text(json.dumps(meta, indent=2) + "\n")
        rebuild_tables(tmp, tmp)
        (tmp / "PROVENANCE.md").write_text(provenance_md(meta))
        for own in tmp.rglob(OWN_RECORD):
            own.unlink()  # the working folders' bookkeeping; atomic_dir writes the snapshot's own
        write_manifest(tmp)
    return out


def provenance_md(meta: dict) -> str:
    numerics = "; ".join(f"{n.get('gemm', 'library GEMM')}, ATen {n.get('aten')}, {n.get('adam')} Adam, "
                         f"{n.get('threads')} thread(s)" for n in meta["numerics"])
    cpus = ", ".join(sorted({n.get("processor", "not recorded") for n in meta["numerics"]}))
    images = ", ".join(f"{d}: {meta['images'][d]}" for d in meta["datasets"])
    return "\n".join([
        f"# Provenance of this snapshot (preset `{meta['preset']}`)", "",
        "SYNTHETIC data: everything here was computed on the data `spndl synth` generates, in the "
        "layouts of CK+, Oulu-CASIA and RAF-DB; it says nothing of the real datasets.", "",
        f"- Trained by commit(s): {', '.join(meta['trained_by_commits'])}",
        f"- Tables rebuilt by commit: {meta.get('published_by_commit', 'not recorded')}",
        f"- Command: `{meta['command']}`",
        f"- Wall time of the pipeline: {meta['wall_s']:.0f} s ({meta['wall_s'] / 60:.1f} minutes), "
        f"on {meta['host']}",
        f"- CPU model recorded by the runs: {cpus}",
        f"- Numerics: {numerics}",
        f"- Data: `spndl synth --size {meta['synth_size']} --seed {meta['synth_seed']}`, prepared at "
        f"{meta['image_size']} px ({images}), "
        f"fold rule {meta['fold_rule']}, {meta['n_folds']} folds",
        f"- Runs: {len(meta['runs'])} (runs/DATASET/VARIANT/FOLD/seedN: config.yaml, metrics.json, "
        "history.csv, predictions.csv, spl_selection.csv; no checkpoints)", "",
        "Check it: `spndl verify results/synthetic_full` rebuilds the tables and claims from the run "
        "records and compares every file with MANIFEST.sha256; `spndl verify results/synthetic_full "
        "--retrain ckplus/baseline/fold0/seed0` trains that run again and compares it bit for bit.", ""])


def check_files(snapshot: Path) -> list[str]:
    """Problems of the snapshot's files against MANIFEST.sha256: each changed, missing or
    unlisted file, named."""
    manifest = snapshot / MANIFEST
    if not manifest.is_file():
        return [f"{manifest}: missing"]
    want = {}
    for line in manifest.read_text().splitlines():
        digest, _, name = line.partition("  ")
        want[name] = digest
    have = set(_files(snapshot))
    problems = [f"{snapshot / n}: missing (listed in {MANIFEST})" for n in sorted(set(want) - have)]
    problems += [f"{snapshot / n}: not listed in {MANIFEST}" for n in sorted(have - set(want))]
    problems += [f"{snapshot / n}: differs from its checksum in {MANIFEST}" for n in sorted(have & set(want))
                 if _sha256(snapshot / n) != want[n]]
    return problems


def check_tables(snapshot: Path) -> list[str]:
    """Each committed table, claims or metrics file that differs from the same file rebuilt
    from the committed run records (or that the rebuild does not produce), named."""
    problems = []
    with tempfile.TemporaryDirectory(prefix="spndl-verify-") as tmp:
        try:
            rebuild_tables(snapshot, Path(tmp))
        except (OSError, ValueError, KeyError) as e:
            return [f"{snapshot}: the tables cannot be rebuilt from the run records: {e}"]
        for group in (TABLES, METRICS):
            for f in sorted((Path(tmp) / group).iterdir()):
                if f.name == OWN_RECORD:
                    continue
                committed = snapshot / group / f.name
                if not committed.is_file():
                    problems.append(f"{committed}: missing; the run records give one")
                elif committed.read_bytes() != f.read_bytes():
                    problems.append(f"{committed}: differs from the one rebuilt from the run records")
    return problems


def verify(snapshot: str | Path) -> list[str]:
    snapshot = Path(snapshot)
    if not _is_snapshot(snapshot):
        raise VerifyError(f"{snapshot}: not a snapshot of spndl publish (no snapshot.json)")
    return check_files(snapshot) + check_tables(snapshot)


WORK_MARK = ".spndl-retrain"  # a work folder of retrain's: its data and run may be replaced


def _claim_work_folder(work: Path) -> None:
    """``work`` for retrain: absent, empty, or one that retrain made before (its mark), so that
    the run folder it replaces there is never a user's."""
    if work.exists() and any(work.iterdir()) and not (work / WORK_MARK).is_file():
        raise VerifyError(f"{work}: not empty and not a work folder of spndl verify --retrain; give a new "
                          "or empty folder")
    work.mkdir(parents=True, exist_ok=True)
    (work / WORK_MARK).touch()


def normalise_run(run: str) -> str:
    """DATASET/VARIANT/FOLD/SEED with FOLD as foldK, K or split and SEED as seedN or N."""
    parts = run.strip("/").split("/")
    if len(parts) != 4:
        raise VerifyError(f"--retrain {run}: expected DATASET/VARIANT/FOLD/SEED, e.g. ckplus/baseline/fold0/seed0")
    dataset, variant, fold, seed = parts
    fold = f"fold{fold}" if fold.isdigit() else fold
    seed = f"seed{seed}" if seed.isdigit() else seed
    return f"{dataset}/{variant}/{fold}/{seed}"


def _spndl(args: list[str], log: Path) -> None:
    """One spndl command in its own process (a run's numerics are set once per process)."""
    import subprocess
    import sys

    with open(log, "w") as f:
        rc = subprocess.run([sys.executable, "-m", "spndl", *args], stdout=f, stderr=subprocess.STDOUT).returncode
    if rc:
        raise VerifyError(f"spndl {' '.join(args)} failed (exit {rc}); its output: {log}")


def retrain(snapshot: str | Path, run: str, work: str | Path | None = None,
            log=print) -> list[str]:
    """Train ``run`` (DATASET/VARIANT/FOLD/SEED, FOLD as foldK or split) again from its committed
    config.yaml, on data regenerated from snapshot.json, and compare its metrics.json and
    predictions.csv with the committed ones byte for byte. Returns the differences, named
    (empty: identical). ``work`` keeps the data and the new run (default: a temporary folder)."""
    snapshot = Path(snapshot)
    if not _is_snapshot(snapshot):
        raise VerifyError(f"{snapshot}: not a snapshot of spndl publish (no snapshot.json)")
    meta = json.loads((snapshot / "snapshot.json").read_text())
    run = normalise_run(run)
    try:  # a folder name, never a path out of the snapshot
        run = parse_run_path(run, "--retrain").path
    except DataError as e:
        raise VerifyError(str(e)) from None
    if run not in meta["runs"]:
        raise VerifyError(f"{snapshot}: no run {run!r}; the runs are DATASET/VARIANT/FOLD/seedN, "
                          f"e.g. {meta['runs'][0]}")
    committed = snapshot / "runs" / run
    record = yaml.safe_load((committed / "config.yaml").read_text())
    try:
        key = run_key(record["dataset"], record["variant"], record["fold"], record["config"]["seed"],
                      str(committed / "config.yaml"))
    except (DataError, KeyError, TypeError) as e:
        raise VerifyError(str(e) if isinstance(e, DataError) else
                          f"{committed / 'config.yaml'}: not a run record of spndl train (no field {e})") from None
    dataset, variant, fold = key.dataset, key.variant, key.fold
    with tempfile.TemporaryDirectory(prefix="spndl-retrain-") as tmp:
        work = Path(work or tmp)
        _claim_work_folder(work)
        raw, prepared, out = work / "raw", work / "prepared" / dataset, work / "run"
        if not raw.exists():
            log(f"regenerating the synthetic {dataset} ({meta['synth_size']}, seed {meta['synth_seed']})")
            _spndl(["synth", "--out", str(raw), "--size", meta["synth_size"], "--seed", str(meta["synth_seed"]),
                    "--datasets", dataset], work / "synth.log")
        if not prepared.exists():
            _spndl(["prepare", "--dataset", dataset, "--root", str(raw / dataset), "--out", str(prepared),
                    "--size", str(meta["image_size"]), "--fold-rule", meta["fold_rule"],
                    "--folds", str(meta["n_folds"]), "--images", meta["images"][dataset]], work / "prepare.log")
        checksum = json.loads((prepared / "dataset.json").read_text())["checksum"]
        if checksum != record["data_checksum"]:
            return [f"{prepared}: the regenerated data's checksum {checksum[:16]}... is not the run's "
                    f"{record['data_checksum'][:16]}... ({committed / 'config.yaml'}): not the same data"]
        settings = work / "config.yaml"
        settings.write_text(yaml.safe_dump(record["config"], sort_keys=False))
        log(f"training {run} again ({record['config']['train']['epochs']} epochs, "
            f"cpu_isa {record['config']['train']['cpu_isa']})")
        shutil.rmtree(out, ignore_errors=True)
        _spndl(["train", "--data", str(prepared), "--variant", variant,
                *([] if fold is None else ["--fold", str(fold)]), "--out", str(out), "--config", str(settings),
                "--set", f"train.device={record['device']}"], work / "train.log")
        return compare_runs(committed, out, record)


def compare_runs(committed: Path, new: Path, record: dict) -> list[str]:
    """metrics.json and predictions.csv of the two runs, byte for byte; where they differ, by
    how much (accuracy points, changed predictions), and whether identity was to be expected."""
    problems = []
    for name in ("metrics.json", "predictions.csv"):
        if (committed / name).read_bytes() != (new / name).read_bytes():
            problems.append(f"{committed / name}: differs from the retrained run's {new / name}")
    if problems:
        a = json.loads((committed / "metrics.json").read_text())["accuracy"]
        b = json.loads((new / "metrics.json").read_text())["accuracy"]
        pa, pb = pd.read_csv(committed / "predictions.csv"), pd.read_csv(new / "predictions.csv")
        changed = int((pa["prediction"].to_numpy() != pb["prediction"].to_numpy()).sum()) if len(pa) == len(pb) else -1
        isa = record["config"]["train"]["cpu_isa"]
        expect = ("bit-for-bit identity holds only on the same processor model under cpu_isa native"
                  if isa == "native" else f"cpu_isa {isa} promises the same bits on every host it runs on")
        problems.append(f"size of the difference: accuracy {100 * a:.2f} committed vs {100 * b:.2f} retrained "
                        f"({100 * (b - a):+.2f} points), {changed} of {len(pa)} predictions changed; {expect}")
    return problems


def _title(dataset: str) -> str:
    return DATASETS[dataset].title if dataset in DATASETS else dataset


def _signed(x) -> str:
    return "" if pd.isna(x) else f"{x:+.1f}"


def _budget_note(r, notes: pd.DataFrame | None) -> str:
    """A measured change of this verdict under another budget (the snapshot's budget_notes.csv)."""
    if notes is None:
        return ""
    hit = notes[(notes["dataset"] == r.dataset) & (notes["better"] == r.better) & (notes["worse"] == r.worse)]
    return "".join(f" ({n})" for n in hit["note"])


def claims_summary(claims: pd.DataFrame, notes: pd.DataFrame | None = None) -> list[list[str]]:
    """The published claims as rows of text: claim, dataset, the paper's and the reproduced
    difference (with its interval), p and Holm's p, the Bayesian probabilities, both verdicts
    (with what ``notes`` measured of the verdict under another budget) and the budget."""
    rows = []
    for r in claims.itertuples():
        interval = "" if pd.isna(r.ci_low) else f" [{_signed(r.ci_low)}, {_signed(r.ci_high)}]"
        probs = "" if pd.isna(r.p_better) else f"{r.p_better:.2f} / {r.p_equivalent:.2f} / {r.p_worse:.2f}"
        p = "" if pd.isna(r.p_value) else (f"{r.p_value:.2g} ({r.p_holm:.2g})")
        rows.append([f"{r.claim} ({r.better} > {r.worse})", _title(r.dataset),
                     _signed(r.paper_difference) or "none", f"{_signed(r.reproduced_difference)}{interval}",
                     p, probs, r.verdict + _budget_note(r, notes),
                     r.bayes_verdict if isinstance(r.bayes_verdict, str) else "", str(getattr(r, "budget", ""))])
    return rows


SUMMARY_HEADER = ["Claim", "Dataset", "Paper", "Synthetic [95% interval]", "p (Holm)",
                  "P(better / equivalent / worse)", "Verdict", "Bayesian verdict", "Budget"]
BUDGET_NOTES = "budget_notes.csv"   # a snapshot's measured changes of a verdict under another budget


def claims_summary_markdown(claims: pd.DataFrame, notes: pd.DataFrame | None = None) -> str:
    lines = ["| " + " | ".join(SUMMARY_HEADER) + " |", "| --- | --- | ---: | ---: | ---: | ---: | --- | --- | --- |"]
    lines += ["| " + " | ".join(row) + " |" for row in claims_summary(claims, notes)]
    return "\n".join(lines) + "\n"


def claims_summary_rst(claims: pd.DataFrame, notes: pd.DataFrame | None = None) -> str:
    """The same rows as an RST list-table (the HTML report's front page)."""
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [SUMMARY_HEADER, *claims_summary(claims, notes)]:
        cells = [c.replace("*", "\\*") or "-" for c in row]
        lines += [f"   * - {cells[0]}", *[f"     - {c}" for c in cells[1:]]]
    return "\n".join(lines) + "\n"


def _markers(path: Path) -> tuple[str, str]:
    if path.suffix == ".rst":
        return ".. published claims: begin", ".. published claims: end"
    return "<!-- published claims: begin -->", "<!-- published claims: end -->"


def summary_block(snapshot: Path, path: Path) -> str:
    """What lies between ``path``'s markers: the snapshot's claims, in ``path``'s format."""
    claims = pd.read_csv(snapshot / TABLES / "claims.csv")
    notes = pd.read_csv(snapshot / BUDGET_NOTES) if (snapshot / BUDGET_NOTES).is_file() else None
    return claims_summary_rst(claims, notes) if path.suffix == ".rst" else claims_summary_markdown(claims, notes)


def current_block(path: Path) -> str:
    begin, end = _markers(path)
    text = path.read_text()
    if begin not in text or end not in text:
        raise DataError(f"{path}: no '{begin}' ... '{end}' block to write the published claims into")
    return text.split(begin, 1)[1].split(end, 1)[0].strip("\n") + "\n"


def write_summary_into(snapshot: Path, path: Path) -> None:
    """Replace the text between ``path``'s published-claims markers (and only that) with the
    snapshot's claims; a file without the markers is refused, never rewritten."""
    current_block(path)  # refuses a file without the markers
    begin, end = _markers(path)
    text = path.read_text()
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    new = f"{head}{begin}\n\n{summary_block(snapshot, path)}\n{end}{tail}"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(new)
    tmp.replace(path)
