"""spndl: Self-Paced Neutral Expression-Disentangled Learning (SPNDL) for facial expression
recognition, and the steps of the pipeline that reproduces its Tables 1-4 and Figures 4-8.

The whole pipeline runs with 'snakemake --profile workflow/profiles/default' (or 'dvc repro');
each command here is one of its steps, or a tool for its runs and results (synthetic data,
acquisition and checks of the licensed datasets, training, tables, figures, prediction, export).
Every command: docs/pipeline.md, Commands; every option: spndl COMMAND --help.
"""

from __future__ import annotations

import argparse
import re
import json
import os
import sys
import tempfile
from pathlib import Path

from spndl.config import ConfigError
from spndl.data.registry import DATASETS as REGISTRY

DATASETS = list(REGISTRY)  # ckplus, oulu, rafdb, custom
SYNTHETIC = [d for d, s in REGISTRY.items() if s.synthetic]  # those `spndl synth` writes


def _positive(kind):
    """An argparse type: a finite number above zero (a clear usage error otherwise)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not (value > 0 and value != float("inf")):
            raise argparse.ArgumentTypeError(f"{text!r}: must be above 0")
        return value
    parse.__name__ = kind.__name__
    return parse


def _seed(text: str) -> int:
    """An argparse type: a seed of 0..2^32-1 in ASCII digits (int() also takes '²' and '-1')."""
    from spndl.config import SEED_MAX

    if not re.fullmatch(r"[0-9]{1,10}", text) or int(text) > SEED_MAX:
        raise argparse.ArgumentTypeError(f"{text!r}: expected an integer 0..{SEED_MAX}")
    return int(text)


def cmd_synth(a):
    from spndl.synth import generate

    generate(a.out, seed=a.seed, size=a.size, datasets=tuple(a.datasets))
    print(f"wrote synthetic {', '.join(a.datasets)} ({a.size}, seed {a.seed}) to {a.out}")
    if a.archives:
        from spndl.synth.archives import write_archives

        for dataset, sources in write_archives(a.out, a.archives, tuple(a.datasets)).items():
            print(f"{dataset}: {' '.join(sources)}")


def cmd_acquire(a):
    from spndl.data.acquire import Limits, acquire

    limits = Limits(max_bytes=int(a.max_size * 2**30), max_ratio=a.max_ratio)
    rec = acquire(a.dataset, a.source, a.out, sha256=a.sha256, keep=a.keep, limits=limits)
    for s in rec["sources"]:
        check = "verified" if s["sha256_expected"] else "recorded"
        print(f"{s['source']}: {s['kind']}" + (f", sha256 {s['sha256']} ({check})" if s["sha256"] else ""))
    for n in rec["unpacked_inside"]:
        print(f"{n['source']}!{n['archive']}: unpacked into {n['unpacked_to']}, sha256 {n['sha256']} (recorded)")
    print(f"{a.dataset}: {len(rec['sources'])} source(s) unpacked into {a.out}")


def cmd_check_data(a):
    from spndl.data.check import check_data, format_report
    from spndl.ownership import check_output_file, write_output_text

    if a.report:  # before reading the tree: a report that may not be written is named at once
        check_output_file(a.report, a.force)
    r = check_data(a.dataset, a.root, images=a.images, allow_deviation=a.allow_deviation)
    text = format_report(r)
    print(text)
    if a.report:
        write_output_text(a.report, json.dumps(r.to_dict(), indent=2) + "\n", a.force)
    return 0 if r.ok else 3


def cmd_prepare(a):
    from spndl.data.prepare import prepare

    info = prepare(a.dataset, a.root, a.out, size=a.size, fold_rule=a.fold_rule, n_folds=a.folds, seed=a.seed,
                   images=a.images)
    c = info["counts"]
    print(f"{a.dataset}: {c['samples']} samples from {c.get('labelled_sequences', c['samples'])} "
          f"sequences/images, {c['exclusions']} exclusion(s) listed in {Path(a.out) / 'exclusions.csv'}")
    print("samples per class: " + ", ".join(f"{k} {v}" for k, v in c["samples_per_class"].items()))
    for fold, classes in info.get("empty_test_classes_by_fold", {}).items():
        print(f"note: test fold {fold} has no sample of {', '.join(classes)}")


def train_config(a):
    """The settings of ``spndl train``: the preset's (if any), then --config files, then --set."""
    from spndl.config import load_config

    base = None
    if a.preset:  # the pipeline's settings for this dataset, under the --config files and --set
        from spndl.params import read_preset

        info = Path(a.data) / "dataset.json"
        dataset = json.loads(info.read_text())["dataset"] if info.is_file() else None
        base = read_preset(a.params, a.preset, dataset)
    return load_config(a.config or [], a.set or [], base=base, base_source=f"{a.params}: presets.{a.preset}")


def cmd_train(a):
    from spndl.runtime.devices import training_device
    from spndl.training.train import train

    cfg = train_config(a)
    with training_device(cfg.train.device, a.gpu_slots, a.lock_dir, a.jobs_per_device) as device:
        m = train(a.data, a.variant, a.fold, a.out, cfg, device=device, restart_on_change=a.restart_on_change)
    print(json.dumps({k: m[k] for k in ("variant", "dataset", "fold", "accuracy", "n_test")}))


def cmd_predict(a):
    from spndl.inference.predict import Predictor, image_files, write_rows

    p = Predictor(a.checkpoint, device=a.device, detect=not a.no_detect, batch_size=a.batch_size)
    if a.video:
        rows = p.predict_video(a.video, every=a.every, neutral=a.neutral)
    else:
        rows = p.predict(a.image or image_files(a.folder), neutral=a.neutral, keep_going=bool(a.folder))
    if a.out:
        write_rows(rows, a.out, force=a.force)
        faces = sum(r["status"] == "ok" for r in rows)
        print(f"wrote {len(rows)} rows ({faces} faces, {len(rows) - faces} no_face) to {a.out}")
    else:
        import pandas as pd

        pd.DataFrame(rows).to_csv(sys.stdout, index=False)


def cmd_export(a):
    from spndl.inference.export import export_onnx

    r = export_onnx(a.checkpoint, a.out, force=a.force)
    print(f"wrote {r['path']} ({r['bytes'] / 2**20:.1f} MiB; inputs {', '.join(r['inputs'])})")


def cmd_features(a):
    from spndl.inference.features import export_features

    r = export_features(a.checkpoint, a.data, a.out, part=a.part, device=a.device, force=a.force)
    print(f"wrote {r['n']} x {r['dim']} features to {a.out}")


def cmd_evidence(a):
    from spndl.report.evidence import write_evidence

    write_evidence([_run_dir(r) for r in a.run], a.out)
    print((Path(a.out) / "evidence.md").read_text())


def cmd_tables(a):
    from spndl.report.tables import write_tables

    write_tables([_run_dir(r) for r in a.run], a.out, a.metrics_out, checks=a.check or [], prepared=a.prepared or [])
    print(f"wrote tables 1-4 and per_fold.csv to {a.out} from {len(a.run)} runs")


def cmd_publish(a):
    from spndl import configuration
    from spndl.report.snapshot import publish, snapshot_meta, write_summary_into

    # merged in order, as snakemake --configfile merges them
    params = {**configuration.merged_params(a.params or ["params.yaml"]), "preset": a.preset}
    meta = snapshot_meta(params, a.preset, a.pipeline_command, a.wall_s, a.host,
                         where=", ".join(a.params or ["params.yaml"]))
    results = Path("results") / configuration.name(params)  # the configuration's folder, as paths.smk names it
    figures = sorted((results / "figures").glob("*.png"))
    job_times = [results / "tables" / f for f in ("job_times.csv", "job_times.md")]
    out = publish(".", a.out, meta, params, figures, [f for f in job_times if f.is_file()])
    for f in a.summary_into or []:
        write_summary_into(out, Path(f))
    print(f"wrote the snapshot {out}: {len(figures)} figures; check it with spndl verify {out}")


def cmd_compare(a):
    from spndl.ownership import write_output_text
    from spndl.report.compare import compare_markdown, load_results

    text = compare_markdown(load_results(a.results), load_results(a.other) if a.other else None)
    if a.out:
        write_output_text(Path(a.out), text)
    print(text, end="")


def cmd_front_page(a):
    from spndl.report.front_page import write_front_page

    write_front_page(a.results, a.configuration, a.snapshot, a.out)
    print(f"wrote {a.out}")


def cmd_verify(a):
    from spndl.report.snapshot import retrain, verify

    problems = verify(a.snapshot)
    for p in problems:  # printed now: a retrain that fails below must not hide them
        print(p, flush=True)
    for run in a.retrain or []:
        found = retrain(a.snapshot, run, a.work)
        for p in found:
            print(p, flush=True)
        problems += found
    what = "files, tables and claims" + (f" and {len(a.retrain)} retrained run(s)" if a.retrain else "")
    print(f"{a.snapshot}: {what}: " + ("identical" if not problems else f"{len(problems)} difference(s)"))
    return 3 if problems else 0


def cmd_job_times(a):
    from spndl.report.job_times import write_job_times

    summary = write_job_times(a.benchmark, a.out, a.root)
    print(f"wrote job_times.csv and job_times.md to {a.out}: {int(summary['jobs'].sum())} jobs")


def _run_dir(path: str | None) -> Path | None:
    """A run folder, given as the folder or as its metrics.json."""
    if path is None:
        return None
    p = Path(path)
    return p.parent if p.name == "metrics.json" else p


def cmd_figure(a):
    from spndl.report import figures as F

    a.run = [_run_dir(r) for r in a.run]
    for k in ("spl", "spndl", "baseline", "ndf", "with_spl", "without_spl"):
        setattr(a, k, _run_dir(getattr(a, k)))
    if a.figure == "4":
        by = {}
        for r in a.run:
            by.setdefault(F.run_metrics(r)["dataset"], []).append(r)
        F.fig4_confusion(by, a.out)
    elif a.figure == "5":
        F.fig5_paces(*map(Path, (a.spl, a.spndl, a.baseline, a.ndf)), a.out)
    elif a.figure == "6":
        F.fig6_losses(Path(a.with_spl), Path(a.without_spl), a.out)
    elif a.figure == "7":
        from spndl.inference.features import export_features

        run = Path(a.run[0])
        # The features are this figure's own output, beside it: never written into the run
        # folder, which belongs to the training job.
        feature_dir = Path(a.features_dir) if a.features_dir else Path(a.out).with_name(Path(a.out).stem + "_features")
        metrics = F.run_metrics(run)
        missing = [p for p in a.paces if not (run / "paces" / f"pace{p}.pt").is_file()]
        if missing and metrics.get("max_steps"):
            # A rehearsal's run stops at its bound, before the paces the figure embeds.
            feature_dir.mkdir(parents=True, exist_ok=True)
            F.not_reached(metrics, f"Fig. 7 embeds the models of paces {', '.join(map(str, a.paces))}, and the "
                          f"run saved {'none' if len(missing) == len(a.paces) else 'not all'} of them", a.out)
            return
        feats = {}
        for p in a.paces:
            feats[p] = feature_dir / f"pace{p}.npz"
            export_features(run / "paces" / f"pace{p}.pt", a.data, feats[p], part="train")
        F.fig7_tsne(feats, run / "spl_selection.csv", tuple(a.classes), a.out, metrics)
    elif a.figure == "8":
        F.fig8_excluded(Path(a.run[0]), Path(a.data), a.out)
    elif a.figure == "curves":
        from spndl.report.curves import draw_fold_curves, read_curves

        if not a.curves:
            raise ConfigError("figure curves: --curves (a curves_per_fold.csv of spndl tables) is required")
        draw_fold_curves(read_curves(a.curves), a.out, a.title or "")
    print(f"wrote {a.out}")


def _read_json(path):
    return json.loads(Path(path).read_text())


IMAGES_HELP = ("which images: ckplus original (landmark crop); oulu original (face detector) or owners "
               "(the owners' cropped copy); rafdb aligned (the owners') or original (face detector); "
               "custom cropped (faces as listed) or original (face detector)")


def _synth_parser(sub) -> None:
    s = sub.add_parser("synth", help="write the synthetic datasets in the real on-disk layouts")
    s.add_argument("--out", required=True)
    s.add_argument("--seed", type=_seed, default=0)
    s.add_argument("--size", default="small", choices=["tiny", "small", "medium", "paper"])
    s.add_argument("--datasets", nargs="+", default=SYNTHETIC, choices=SYNTHETIC)
    s.add_argument("--archives", metavar="DIR", help="also write each dataset as its owners ship it (CK+'s three "
                   "zips, Oulu-CASIA's archive, RAF-DB's basic/ with Image/aligned.zip) under DIR/<dataset>/, "
                   "SYNTHETIC.txt inside, for `data.source: real` (a rehearsal of the real-data path)")
    s.set_defaults(func=cmd_synth)


def _acquire_parser(sub) -> None:
    s = sub.add_parser("acquire", help="verify and unpack a dataset's archives, folder or URL into one tree")
    s.add_argument("--dataset", required=True, choices=DATASETS)
    s.add_argument("--source", required=True, action="append",
                   help="archive (.zip, .tar, .tar.gz), folder or URL (http, https, file); repeat for several")
    s.add_argument("--sha256", action="append", help="expected sha256 of each --source, in order ('-': none)")
    s.add_argument("--out", required=True, help="the tree to create (replaced only when all is in)")
    s.add_argument("--keep", help="folder for the project's copy of each archive (versioned by DVC)")
    s.add_argument("--max-size", type=_positive(float), default=64.0, metavar="GB",
                   help="most GiB that unpacking may write, nested archives included (default 64)")
    s.add_argument("--max-ratio", type=_positive(float), default=100.0,
                   help="most unpacked bytes per packed byte of one archive, against archive bombs (default 100)")
    s.set_defaults(func=cmd_acquire)


def _check_data_parser(sub) -> None:
    s = sub.add_parser("check-data", help="counts and anomalies of a dataset tree, beside the paper's")
    s.add_argument("--dataset", required=True, choices=DATASETS)
    s.add_argument("--root", required=True, help="the dataset's folder")
    s.add_argument("--images", help=IMAGES_HELP)
    s.add_argument("--report", help="also write the report as JSON here")
    s.add_argument("--force", action="store_true", help="replace an existing --report file spndl did not write")
    s.add_argument("--allow-deviation", action="store_true",
                   help="exit 0 even when counts differ from the paper's (exit 3 otherwise)")
    s.set_defaults(func=cmd_check_data)


def _prepare_parser(sub) -> None:
    s = sub.add_parser("prepare", help="read, pair, crop and fold a dataset into arrays and a manifest")
    s.add_argument("--dataset", required=True, choices=DATASETS)
    s.add_argument("--root", required=True, help="the dataset's folder")
    s.add_argument("--out", required=True, help="the prepared folder to create (replaced only when all is in)")
    s.add_argument("--size", type=int, default=224, help="face crop size in pixels (paper: 224)")
    s.add_argument("--fold-rule", default="modulo", choices=["modulo", "stratified"])
    s.add_argument("--folds", type=int, default=10)
    s.add_argument("--seed", type=_seed, default=0, help="for the stratified fold rule")
    s.add_argument("--images", help=IMAGES_HELP)
    s.set_defaults(func=cmd_prepare)


def _train_parser(sub) -> None:
    from spndl.variants import VARIANTS

    s = sub.add_parser("train", help="train and evaluate one variant on one fold; resumes")
    s.add_argument("--data", required=True, help="a prepared folder")
    s.add_argument("--variant", required=True, choices=list(VARIANTS))
    s.add_argument("--fold", type=int, default=None, help="held-out fold (CK+, Oulu-CASIA); omit for a split (RAF-DB)")
    s.add_argument("--out", required=True, help="run folder")
    s.add_argument("--preset", help="start from the pipeline's settings of this preset of --params "
                                    "(synthetic_cpu, paper), with the dataset's own overrides")
    s.add_argument("--params", default="params.yaml", help="the params file of --preset (default: params.yaml)")
    s.add_argument("--config", action="append", help="YAML settings file (repeatable)")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one setting, e.g. train.epochs=6")
    s.add_argument("--restart-on-change", action="store_true",
                   help="if RUN holds a checkpoint of other settings, start over instead of refusing")
    s.add_argument("--gpu-slots", type=int, default=None,
                   help="GPUs shared by concurrent jobs (default: all visible); each job leases one")
    lock_dir = os.environ.get("SPNDL_LOCK_DIR", str(Path(tempfile.gettempdir()) / "spndl-gpu-slots"))
    s.add_argument("--lock-dir", default=lock_dir,
                   help="where the slot locks live, a folder per host (env SPNDL_LOCK_DIR)")
    s.add_argument("--jobs-per-device", type=int, default=1,
                   help="training jobs that may share one GPU (small jobs do not fill a large GPU)")
    s.set_defaults(func=cmd_train)


def _predict_parser(sub) -> None:
    s = sub.add_parser("predict", help="classify the expressions of photos, a folder or a video with a trained run")
    s.add_argument("--checkpoint", required=True, help="a finished run folder (or its checkpoint.pt)")
    what = s.add_mutually_exclusive_group(required=True)
    # extend: a repeated --image adds to the list (the default "store" kept only the last one)
    what.add_argument("--image", nargs="+", action="extend", help="photo file(s); repeatable")
    what.add_argument("--folder", help="every photo directly in this folder")
    what.add_argument("--video", help="a video file (every --every-th frame)")
    s.add_argument("--every", type=_positive(int), default=1, help="with --video: classify every N-th frame")
    s.add_argument("--neutral", help="a neutral photo of the same person (NDF and SPNDL variants only)")
    s.add_argument("--no-detect", action="store_true", help="the photos are face crops already: no face detector")
    s.add_argument("--out", help=".csv or .json (default: CSV on standard output)")
    s.add_argument("--force", action="store_true", help="replace an existing --out file spndl did not write")
    s.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    s.add_argument("--batch-size", type=_positive(int), default=64)
    s.set_defaults(func=cmd_predict)


def _export_parser(sub) -> None:
    s = sub.add_parser("export", help="write a trained run as an ONNX graph with its preprocessing in the metadata")
    s.add_argument("--checkpoint", required=True, help="a finished run folder (or its checkpoint.pt)")
    s.add_argument("--out", required=True, help="the .onnx file")
    s.add_argument("--force", action="store_true", help="replace an existing file spndl did not write")
    s.set_defaults(func=cmd_export)


def _features_parser(sub) -> None:
    s = sub.add_parser("features", help="export pooled features or NDFs of a checkpoint")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--data", required=True)
    s.add_argument("--out", required=True, help=".npz file")
    s.add_argument("--part", default="train", choices=["train", "test"])
    s.add_argument("--device", default="auto")
    s.add_argument("--force", action="store_true", help="replace an existing --out file spndl did not write")
    s.set_defaults(func=cmd_features)


def _evidence_parser(sub) -> None:
    s = sub.add_parser("evidence", help="baseline vs NDF vs NDF with another subject's neutral, paired by fold "
                                        "(the runs: `snakemake evidence`)")
    s.add_argument("--run", action="append", required=True, help="a run folder (or its metrics.json); repeat")
    s.add_argument("--out", required=True, help="folder for evidence.md and its CSV files")
    s.set_defaults(func=cmd_evidence)


def _tables_parser(sub) -> None:
    s = sub.add_parser("tables", help="Tables 1-4 and the per-fold file from run folders")
    s.add_argument("--run", action="append", required=True, help="run folder (repeatable)")
    s.add_argument("--out", required=True, help="folder for Tables 1-4 and per_fold.csv")
    s.add_argument("--metrics-out", help="folder for headline.json and curve_*.csv (default: --out)")
    s.add_argument("--check", action="append", help="a check-data report (repeatable): deviations are stated")
    s.add_argument("--prepared", action="append", help="a prepared folder (repeatable): sample counts are compared")
    s.set_defaults(func=cmd_tables)


def _publish_parser(sub) -> None:
    s = sub.add_parser("publish", help="a finished pipeline's results as a snapshot fixed in git (run records, "
                       "tables, figures, provenance)")
    s.add_argument("--out", required=True, help="the snapshot folder, e.g. results/synthetic_full")
    s.add_argument("--preset", required=True, help="the preset the pipeline ran")
    s.add_argument("--params", action="append", help="the params file(s) the pipeline ran with, merged in order "
                   "(default: params.yaml)")
    s.add_argument("--command", dest="pipeline_command", required=True,
                   help="the exact command that ran the pipeline")
    s.add_argument("--wall-s", type=float, required=True, help="its wall time in seconds")
    s.add_argument("--host", help="the machine it ran on (default: this one's CPU model and count)")
    s.add_argument("--summary-into", action="append", metavar="FILE",
                   help="rewrite the published-claims block of FILE (README.md, workflow/report/workflow.rst)")
    s.set_defaults(func=cmd_publish)


def _verify_parser(sub) -> None:
    s = sub.add_parser("verify", help="check a published snapshot: its files, its tables rebuilt from its run "
                       "records, and optionally runs retrained bit for bit (exit 3 on a difference)")
    s.add_argument("snapshot")
    s.add_argument("--retrain", action="append", metavar="DATASET/VARIANT/FOLD/SEED",
                   help="train this run again and compare it (repeatable), e.g. ckplus/baseline/fold0/seed0")
    s.add_argument("--work", help="keep the regenerated data and the retrained run here (default: a temporary folder)")
    s.set_defaults(func=cmd_verify)


def _job_times_parser(sub) -> None:
    s = sub.add_parser("job-times", help="one table of the pipeline's job timings from Snakemake benchmark files")
    s.add_argument("benchmark", nargs="+", help="logs/benchmarks/<rule>/<job>.tsv files")
    s.add_argument("--root", default="logs/benchmarks", help="the folder holding one folder per rule")
    s.add_argument("--out", required=True, help="folder for job_times.csv and job_times.md")
    s.set_defaults(func=cmd_job_times)


def _figure_parser(sub) -> None:
    s = sub.add_parser("figure", help="one of Figures 4-8 from run folders, or the per-fold learning curves")
    s.add_argument("figure", choices=["4", "5", "6", "7", "8", "curves"])
    s.add_argument("--out", required=True, help=".png file")
    s.add_argument("--run", action="append", default=[], help="run folder(s): Fig. 4 all, Figs. 7-8 one")
    s.add_argument("--data", help="prepared folder (Figs. 7-8)")
    for run in ("--spl", "--spndl", "--baseline", "--ndf"):
        s.add_argument(run, help="Fig. 5: the Oulu-CASIA run of this variant")
    s.add_argument("--with-spl", help="Fig. 6: the RAF-DB run with SPL")
    s.add_argument("--without-spl", help="Fig. 6: the RAF-DB run without SPL")
    s.add_argument("--paces", type=int, nargs="+", default=[2, 5])
    s.add_argument("--features-dir", help="Fig. 7: where the exported NDFs go (default: beside --out, "
                                          "<name>_features/)")
    s.add_argument("--classes", nargs=2, default=["fear", "disgust"])
    s.add_argument("--curves", help="curves: the curves_per_fold.csv of spndl tables")
    s.add_argument("--title", help="curves: what the figure shows (e.g. the configuration's name)")
    s.set_defaults(func=cmd_figure)


def _compare_parser(sub) -> None:
    s = sub.add_parser("compare", help="a configuration's Tables 1-4 and claims beside the paper's and another "
                       "configuration's or snapshot's, with intervals")
    s.add_argument("results", help="a results folder: results/NAME (a configuration) or results/synthetic_full")
    s.add_argument("--with", dest="other", help="another results folder to set beside it")
    s.add_argument("--out", help="also write the comparison here (markdown)")
    s.set_defaults(func=cmd_compare)


def _front_page_parser(sub) -> None:
    s = sub.add_parser("front-page", help="the HTML report's front page: this configuration's claims and "
                       "Tables 1-4 first, then the published snapshot's claims")
    s.add_argument("--results", required=True, help="the configuration's results folder (results/NAME)")
    s.add_argument("--configuration", required=True, help="its runs/NAME/configuration.yaml")
    s.add_argument("--snapshot", help="the published snapshot (results/synthetic_full)")
    s.add_argument("--out", required=True, help=".rst file")
    s.set_defaults(func=cmd_front_page)


# One builder per command, in the order `spndl --help` lists them.
COMMANDS = (_synth_parser, _acquire_parser, _check_data_parser, _prepare_parser, _train_parser, _predict_parser,
            _export_parser, _features_parser, _evidence_parser, _tables_parser, _publish_parser, _verify_parser,
            _job_times_parser, _figure_parser, _compare_parser, _front_page_parser)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="spndl", description=__doc__,
                                epilog="--debug, anywhere on the line: show a failure's traceback")
    sub = p.add_subparsers(dest="command", required=True)
    for build in COMMANDS:
        build(sub)
    return p


def _one_line(e: BaseException) -> str:
    """An expected failure as one line that names the file: OSError keeps its file apart."""
    if isinstance(e, OSError) and e.filename is not None:
        text = f"{e.filename}: {e.strerror or e}"
    else:
        text = str(e) or type(e).__name__
    return " ".join(text.split())


# The expected failures of modules that import torch; a command that never imported one of
# them cannot have raised its error, so it is looked up only where loaded (`spndl check-data`
# or `tables` would otherwise spend seconds importing torch for their except clause).
EXPECTED_ELSEWHERE = (("spndl.checkpoint", "CheckpointError"), ("spndl.training.runfolder", "RunError"),
                      ("spndl.runtime.devices", "DeviceError"), ("spndl.weights", "WeightsError"))


def _loaded(names) -> tuple[type, ...]:
    return tuple(getattr(sys.modules[m], c) for m, c in names if m in sys.modules)


def _save_traceback(command: str) -> Path | None:
    """The current exception's traceback in a file of its own (SPNDL_LOG_DIR, else the
    temporary folder), for a bug report; None if even that cannot be written."""
    import traceback

    folder = Path(os.environ.get("SPNDL_LOG_DIR") or tempfile.gettempdir())
    try:
        fd, name = tempfile.mkstemp(prefix=f"spndl-{command}-error-", suffix=".log", dir=folder)
        with os.fdopen(fd, "w") as f:
            f.write(f"spndl {' '.join(sys.argv[1:]) or command}\n\n{traceback.format_exc()}")
        return Path(name)
    except OSError:
        return None


def _link_loop(e: BaseException) -> str | None:
    """A symbolic link that leads back to itself, named as such: Path.resolve raises a bare
    RuntimeError for it (before Python 3.13), a walk or an open an OSError ELOOP."""
    import errno

    if isinstance(e, RuntimeError) and str(e).startswith("Symlink loop from "):
        path = str(e).removeprefix("Symlink loop from ").strip("'")
    elif isinstance(e, OSError) and e.errno == errno.ELOOP:
        path = e.filename
    else:
        return None
    return f"{path}: a symbolic link loop (the link leads back to itself); give a real file or folder"


def main(argv: list[str] | None = None) -> int:
    """Run one command. Every expected failure (bad input, settings, checkpoints, weights,
    a full disk) is one line naming the file and the problem, exit code 2. Anything else is
    a bug, and still one line, exit code 1, with the traceback in a file whose path it
    prints; --debug (or SPNDL_DEBUG=1) shows the traceback instead, for either kind."""
    from spndl.data.records import DataError

    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv or os.environ.get("SPNDL_DEBUG") == "1"
    args = parser().parse_args([a for a in argv if a != "--debug"])
    try:
        rc = args.func(args)
    except KeyboardInterrupt:
        # Every output is written to a temporary path and renamed into place: an interrupted
        # command leaves the old output as it was, and its temporary files are gone.
        print(f"spndl {args.command}: interrupted; no output is left half-written", file=sys.stderr)
        return 130
    except Exception as e:
        if debug:
            raise
        loop = _link_loop(e)
        if loop:
            print(f"spndl {args.command}: error: {loop}", file=sys.stderr)
            return 2
        if isinstance(e, (DataError, ConfigError, OSError, *_loaded(EXPECTED_ELSEWHERE))):
            print(f"spndl {args.command}: error: {_one_line(e)}", file=sys.stderr)
            return 2
        saved = _save_traceback(args.command)
        where = f"the traceback is in {saved}" if saved else "no traceback file could be written"
        print(f"spndl {args.command}: unexpected error: {type(e).__name__}: {_one_line(e)} ({where}; "
              "--debug shows it; please report it with the command that gave it)", file=sys.stderr)
        return 1
    return rc if isinstance(rc, int) else 0  # check-data: 3 when counts differ


if __name__ == "__main__":
    sys.exit(main())
