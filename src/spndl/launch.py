"""The ``spndl`` command's entry: start the process under the CPU numerics it must use.

numpy, OpenCV, ATen and MKL read their instruction-set and reproducibility switches
(``spndl.runtime.numerics``) once, when each starts, and ``spndl`` imports numpy before it has
read a command's settings. So the entry works out the environment the command needs
(``train``: its settings; ``predict``, ``export``, ``features``: the run's; any other
command: the defaults) and, where this process was started without it, starts the
command again in a fresh interpreter that has it (``exec``: the same process id, so a
scheduler or Snakemake waiting on it sees nothing change). Where the environment is
already right (a second start, or a caller that set it), nothing is restarted.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path

from spndl.runtime.numerics import MARKER, environment


def command_environment(argv: list[str]) -> dict[str, str]:
    """The environment variables that ``spndl ARGV`` runs under (its CPU numerics)."""
    from spndl.cli import parser, train_config
    from spndl.config import Config, config_from_dict

    train = Config().train
    try:  # a command line or settings file with an error: the command itself reports it
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            a = parser().parse_args(argv)
        if a.command == "train":
            train = train_config(a).train
        elif getattr(a, "checkpoint", None):
            train = config_from_dict(_run_settings(Path(a.checkpoint)).get("config", {})).train
    except (SystemExit, Exception):
        pass
    return environment(train.cpu_isa, train.cpu_threads)


def _run_settings(path: Path) -> dict:
    """The settings in a run folder's config.yaml (the folder, or a file in it)."""
    import yaml

    folder = path if path.is_dir() else path.parent
    record = yaml.safe_load((folder / "config.yaml").read_text())
    return record if isinstance(record, dict) else {}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if MARKER not in os.environ:
        env = command_environment(argv)
        if any(os.environ.get(k) != v for k, v in env.items()):
            sys.stdout.flush()
            sys.stderr.flush()
            os.execve(sys.executable, [sys.executable, "-m", "spndl", *argv], {**os.environ, **env, MARKER: "1"})
    from spndl.cli import main as cli_main

    return cli_main(argv)
