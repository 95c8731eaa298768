"""What the rehearsal of the paper's regime took, stage by stage, against what is asked for it.

Run after the rehearsal (workflow/rehearsal.yaml), from the repository root:

    .venv/bin/snakemake --profile workflow/profiles/default \
        --configfile workflow/real-data.yaml workflow/rehearsal.yaml
    .venv/bin/python benchmarks/rehearsal.py [--configfile ...] [--name rehearsal]

It prints, per stage (the archives, acquisition, the data check, preparation, a training job
of each dataset and variant, tables, figures, report pages), the jobs' wall time and peak memory
(Snakemake's benchmark files: ``s`` and ``max_rss``) beside what each profile requests for the
job: the default profile's threads and ``mem_mb``, and on Slurm where it runs (the submit host
for a localrule, else a job) with its ``cpus_per_task``, ``mem_mb`` and ``runtime``. The
requests come from ``snakemake --dry-run --forceall`` under each profile, so they are the
pipeline's own. A job whose peak exceeds its ``mem_mb`` is flagged, as is a submit-host rule
that takes over a minute or 2 GB. Then the data checks' verdicts, the wall time of the last
snakemake run (its log) and the disk each folder of the configuration holds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd
import yaml

from spndl.configuration import data_log_key
from spndl.report.job_times import job_times

REPO = Path(__file__).resolve().parents[1]
CONFIGFILES = ["workflow/real-data.yaml", "workflow/rehearsal.yaml"]
SUBMIT_HOST_LIMIT = (60.0, 2048.0)  # seconds, MB: more than either belongs on a compute node


def requests(profile: str, configfiles: list[str], directory: Path) -> dict[str, dict]:
    """Per rule: whether it is a localrule, its threads and resources (its first job) in a forced
    dry run under ``profile``."""
    extra = [str(REPO / "workflow/profiles/slurm/cluster.yaml")] if profile.endswith("slurm") else []
    r = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
                        str(directory), "--profile", str(REPO / profile), "--configfile", *extra, *configfiles,
                        "--dry-run", "--forceall", "--nolock"], capture_output=True, text=True, cwd=REPO)
    if r.returncode != 0 and "invalid choice: 'slurm'" in r.stderr:
        print(f"(no requests under {profile}: its executor plugin is the slurm extra, pip install -e '.[slurm]')")
        return {}
    if r.returncode != 0:
        raise SystemExit(f"snakemake --dry-run under {profile} failed:\n{(r.stdout + r.stderr)[-2000:]}")
    out: dict[str, dict] = {}
    rule = None
    for line in r.stdout.splitlines():
        if m := re.match(r"^(local)?rule (\w+):", line):
            rule = m.group(2)
            out.setdefault(rule, {"local": bool(m.group(1))})
        elif rule and (m := re.match(r"^\s+threads: (\d+)$", line)):
            out[rule].setdefault("threads", int(m.group(1)))
        elif rule and (m := re.match(r"^\s+resources: (.*)$", line)):
            for kv in m.group(1).split(", "):
                k, _, v = kv.partition("=")
                out[rule].setdefault(k, v)
    return out


def submit_host_rules(configfiles: list[str]) -> set[str]:
    """The rules Slurm leaves to the submit host: the Snakefile's localrules and params'
    compute.on_submit_host (params.yaml, then the cluster overlay and the configfiles)."""
    block = re.search(r"^localrules:\n((?:[ \t]+\w+,?\n)+)", (REPO / "Snakefile").read_text(), re.M)
    rules = set(re.findall(r"\w+", block.group(1))) if block else set()
    on_host = ["acquire"]
    for f in ["params.yaml", "workflow/profiles/slurm/cluster.yaml", *configfiles]:  # REPO / absolute = absolute
        on_host = ((yaml.safe_load((REPO / f).read_text()) or {}).get("compute") or {}).get("on_submit_host", on_host)
    return rules | set(on_host)


def stage(rule: str, job: str) -> str:
    """The stage of a job: training jobs by dataset and variant, data jobs by dataset."""
    parts = job.split("/")
    if rule == "train":  # NAME/dataset/variant/fold/seedN
        return f"train {parts[1]} {parts[2]}"
    if rule in ("acquire", "check_data", "prepare"):
        return f"{rule} {parts[-1]}"
    return rule


def wall_time(log_dir: Path) -> str:
    """The newest snakemake log's first and last timestamps."""
    logs = sorted(log_dir.glob("*.snakemake.log"), key=os.path.getmtime)
    if not logs:
        return "no snakemake log"
    stamps = re.findall(r"^\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]$", logs[-1].read_text(), re.M)
    if len(stamps) < 2:
        return f"{logs[-1]}: too few timestamps"
    t = [datetime.strptime(" ".join(s.split()), "%a %b %d %H:%M:%S %Y") for s in (stamps[0], stamps[-1])]
    return f"{(t[1] - t[0]).total_seconds() / 60:.1f} min ({logs[-1].name}, first to last job)"


def disk(path: Path) -> int:
    """Bytes on disk (allocated blocks) under ``path``, links not followed."""
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_blocks * 512
            except OSError:
                pass
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configfile", nargs="+", default=CONFIGFILES)
    ap.add_argument("--name", default="rehearsal", help="the configuration's name (runs/NAME, results/NAME)")
    ap.add_argument("--data-dir", default="rehearsal/data", help="its data.dir")
    ap.add_argument("--directory", default=str(REPO), help="where the workflow ran (snakemake --directory)")
    a = ap.parse_args()
    a.configfile = [str(Path(f).resolve()) for f in a.configfile]
    os.chdir(a.directory)
    dlog = data_log_key(a.data_dir).rstrip("/")
    bench = Path("logs/benchmarks")
    paths = [p for p in bench.rglob("*.tsv")
             if f"/{a.name}/" in f"/{p}" or f"/{a.name}.tsv" in f"/{p}" or f"/{dlog}/" in f"/{p}"
             or p.parent.name == "rehearsal_archives"]
    if not paths:
        raise SystemExit(f"no benchmark files of {a.name} under {bench}: run the rehearsal first")
    jobs = job_times(paths, bench)
    jobs["stage"] = [stage(r, j) for r, j in zip(jobs["rule"], jobs["job"])]
    default = requests("workflow/profiles/default", a.configfile, Path.cwd())
    slurm = requests("workflow/profiles/slurm", a.configfile, Path.cwd())
    for rule in submit_host_rules(a.configfile):
        slurm.setdefault(rule, {})["local"] = True
    rows = []
    for name, g in jobs.groupby("stage", sort=False):
        rule = g["rule"].iloc[0]
        d, s = default.get(rule, {}), slurm.get(rule, {})
        peak, longest = g["max_rss_mb"].max(), g["seconds"].max()
        flags = []
        for where, req in (("default", d), ("slurm", s)):
            if "mem_mb" in req and peak > float(req["mem_mb"]):
                flags.append(f"peak over {where} mem_mb")
        if s.get("local") and (longest > SUBMIT_HOST_LIMIT[0] or peak > SUBMIT_HOST_LIMIT[1]):
            flags.append("heavy for the submit host")
        rows.append({"stage": name, "jobs": len(g), "wall s (median)": round(g["seconds"].median(), 1),
                     "wall s (max)": round(longest, 1), "peak RSS GB (max)": round(peak / 1024, 2),
                     "default: threads, mem_mb": f"{d.get('threads', 1)}, {d.get('mem_mb', 'none')}",
                     "slurm: where, cpus, mem_mb, runtime": (
                         "submit host" if s.get("local") else
                         f"job, {s.get('cpus_per_task', s.get('threads', 1))}, {s.get('mem_mb', 'partition default')}"
                         f", {s.get('runtime', 'partition default')}"),
                     "flag": "; ".join(flags)})
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_rows", 200):
        print(table.to_string(index=False))
    print(f"\n{len(jobs)} jobs, {jobs['seconds'].sum() / 60:.1f} job-minutes; training "
          f"{jobs.loc[jobs['rule'] == 'train', 'seconds'].sum() / 60:.1f} job-minutes "
          f"({(jobs['rule'] == 'train').sum()} jobs)")
    print(f"wall time: {wall_time(Path('.snakemake/log'))}")
    for report in sorted(p for p in Path(a.data_dir, "checks").glob("*/*.json") if not p.name.startswith(".")):
        r = json.loads(report.read_text())
        verdict = "counts match the paper" if not r["deviations"] else f"{len(r['deviations'])} deviation(s): " \
            + "; ".join(r["deviations"][:4])
        print(f"check-data {r['dataset']}: {verdict} ({len(r['anomalies'])} anomalies; {report})")
    print("\ndisk used (allocated):")
    # rehearsal/'s folders (the data folder by its parts, below), then the data, runs and results.
    folders = [p for p in sorted(Path("rehearsal").glob("*")) if p.is_dir() and p != Path(a.data_dir)]
    folders += [Path(a.data_dir, sub) for sub in ("raw", "checks", "prepared")]
    folders += [Path("runs", a.name), Path("results", a.name)]
    total = 0
    for f in folders:
        size = disk(f) if f.exists() else 0
        total += size
        print(f"  {str(f):42s} {size / 2**30:7.2f} GiB")
    print(f"  {'total':42s} {total / 2**30:7.2f} GiB")


if __name__ == "__main__":
    main()
