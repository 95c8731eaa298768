"""Where the pipeline's time goes: Snakemake's own job timings, one table per DAG.

Every rule writes a ``benchmark:`` file, logs/benchmarks/<rule>/<job>.tsv (Snakemake's
columns: ``s`` wall seconds, ``max_rss`` MB, ``cpu_time`` seconds, ...). ``job_times``
reads them into one row per job; ``stage_summary`` adds up each rule's jobs, with its
share of all jobs' seconds. Jobs run side by side, so the shares are of the work, not of
the wall time; the pipeline's wall time is what ``time snakemake`` prints.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from spndl.data.records import DataError
from spndl.ownership import output_file, write_output_text

BENCH_ROOT = "logs/benchmarks"
COLUMNS = {"s": "seconds", "cpu_time": "cpu_seconds", "max_rss": "max_rss_mb"}


def read_benchmark(path: Path) -> dict:
    """The one row of a Snakemake benchmark file (the first, if it was repeated)."""
    try:
        frame = pd.read_csv(path, sep="\t")
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: unreadable Snakemake benchmark file ({e})") from None
    missing = [c for c in COLUMNS if c not in frame.columns]
    if frame.empty or missing:
        raise DataError(f"{path}: not a Snakemake benchmark file (no rows, or no column {', '.join(missing)})")
    row = frame.iloc[0]
    return {new: pd.to_numeric(row[old], errors="coerce") for old, new in COLUMNS.items()}


def job_times(paths: list[Path], root: str | Path = BENCH_ROOT) -> pd.DataFrame:
    """One row per job: rule (the first folder below ``root``), job (the rest of the path),
    wall and CPU seconds, peak memory."""
    rows = []
    for path in map(Path, paths):
        try:
            rel = path.with_suffix("").relative_to(root)
        except ValueError:
            raise DataError(f"{path}: a benchmark file outside {root}/<rule>/") from None
        rule, job = (rel.parts[0], "/".join(rel.parts[1:])) if len(rel.parts) > 1 else (rel.parts[0], "")
        rows.append({"rule": rule, "job": job, **read_benchmark(path)})
    return pd.DataFrame(rows, columns=["rule", "job", *COLUMNS.values()])


def stage_summary(jobs: pd.DataFrame) -> pd.DataFrame:
    """Per rule: jobs, summed and longest wall seconds, CPU seconds, share of all jobs' seconds."""
    g = jobs.groupby("rule", sort=False)
    out = pd.DataFrame({"jobs": g.size(), "seconds": g["seconds"].sum(), "longest_s": g["seconds"].max(),
                        "cpu_seconds": g["cpu_seconds"].sum()})
    out["share"] = out["seconds"] / out["seconds"].sum()
    return out.sort_values("seconds", ascending=False).reset_index()


def write_job_times(paths: list[Path], out_dir: str | Path, root: str | Path = BENCH_ROOT) -> pd.DataFrame:
    """job_times.csv (one row per job) and job_times.md (per stage, then the slowest jobs)."""
    out_dir = Path(out_dir)
    jobs = job_times(paths, root)
    summary = stage_summary(jobs)
    with output_file(out_dir / "job_times.csv") as tmp:
        jobs.to_csv(tmp, index=False)
    shown = summary.assign(share=summary["share"] * 100).rename(columns={"share": "share %"})
    slowest = jobs.sort_values("seconds", ascending=False).head(10)
    write_output_text(out_dir / "job_times.md",
               "# Where the pipeline's time went (Snakemake benchmark files)\n\n"
               f"{len(jobs)} jobs, {jobs['seconds'].sum():.0f} job-seconds in all. Jobs run side by side, so "
               "the share is of the summed work, not of the wall time.\n\n"
               + _markdown(shown) + "\n## The slowest jobs\n\n" + _markdown(slowest))
    return summary


def _markdown(df: pd.DataFrame) -> str:
    cells = [[f"{v:.1f}" if isinstance(v, float) else str(v) for v in row] for row in df.itertuples(index=False)]
    lines = ["| " + " | ".join(df.columns) + " |", "|" + " --- |" * len(df.columns)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in cells]) + "\n"
