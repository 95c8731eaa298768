"""workflow/real-data.yaml with its /data/... paths replaced by empty placeholder files, so that
a dry run can plan the paper's DAG on a machine without the licensed data."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OVERLAY = REPO / "workflow/real-data.yaml"


def placeholder_overlay(tmp_path: Path) -> Path:
    text = OVERLAY.read_text()
    for path in sorted(set(re.findall(r"/data/[^,\]\s]+", text))):
        placeholder = tmp_path / "licensed" / path.removeprefix("/data/")
        placeholder.parent.mkdir(parents=True, exist_ok=True)
        placeholder.write_bytes(b"")
        text = text.replace(path, str(placeholder))
    out = tmp_path / "real-data.yaml"
    out.write_text(text)
    return out
