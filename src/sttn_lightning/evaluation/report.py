"""The files an evaluation leaves: metrics.json, per_video.csv and results.md beside the published numbers.

The files are written to hidden temporary names and moved into place together, so a crash never
leaves half a report; a write error (a full disk) removes the temporaries and raises ``OutputFault``. Non-finite values (PSNR of a perfect result) are written as JSON ``Infinity`` (what
Python's json reads back as ``inf``), ``inf`` in the CSV and the table.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sttn_lightning.errors import OutputFault
from sttn_lightning.interrupts import deferred_signals
from sttn_lightning.media.writers import os_fault_cause

PUBLISHED: dict[str, dict[str, tuple[float, float, float]]] = {
    "youtube_vos": {
        "STTN (paper)": (32.34, 0.9655, 0.053),
        "FuseFormer": (33.32, 0.9681, 0.053),
        "E2FGVI": (33.71, 0.9700, 0.046),
        "ProPainter": (34.43, 0.9735, 0.042),
    },
    "davis": {
        "STTN (paper)": (30.67, 0.9560, 0.149),
        "FuseFormer": (32.59, 0.9701, 0.137),
        "E2FGVI": (33.01, 0.9721, 0.116),
        "ProPainter": (34.47, 0.9776, 0.098),
    },
}
"""PSNR / SSIM / VFID at 432x240 as published (reference section 6)."""

PER_VIDEO_COLUMNS = ("video_id", "frames", "psnr", "ssim", "hole_psnr", "hole_ssim", "ewarp", "ewarp_ground_truth")


def _write_together(files: Mapping[Path, str]) -> None:
    """Each text into a hidden sibling of its path, then all moved into place, so the report is replaced
    whole; on a write error (a full disk) or an interrupt the siblings are removed and the old report stays."""
    temporaries = {path: path.with_name(f".{path.name}.partial-{uuid.uuid4().hex[:12]}") for path in files}
    current = None  # the file being written or moved
    try:
        for current, text in files.items():
            temporaries[current].write_text(text)
        with deferred_signals():
            for current, temporary in temporaries.items():
                os.replace(temporary, current)
    except OSError as error:
        raise OutputFault(current, os_fault_cause(error)) from error
    finally:
        for temporary in temporaries.values():
            temporary.unlink(missing_ok=True)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "inf" if value == math.inf else repr(value)
    return str(value)


def _fmt(value: float | None, digits: int) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf"
    return f"{value:.{digits}f}"


def results_table(summary: Mapping[str, Any], method: str, dataset: str | None) -> str:
    """A markdown table of this run beside the published numbers of ``dataset`` (if known)."""
    lines = [
        "| method | PSNR | SSIM | VFID | E_warp (MSE, [0,1] RGB) |",
        "|---|---|---|---|---|",
        f"| {method} (this run) | {_fmt(summary['psnr'], 2)} | {_fmt(summary['ssim'], 4)} | "
        f"{_fmt(summary['vfid'], 3)} | {_fmt(summary['ewarp'], 5)} |",
    ]
    for name, (p, s, v) in PUBLISHED.get(dataset or "", {}).items():
        lines.append(f"| {name} (published) | {p:.2f} | {s:.4f} | {v:.3f} | not comparable |")
    notes = ["", f"Videos: {summary['videos']}, frames: {summary['frames']}. Hole-only PSNR / SSIM: "
             f"{_fmt(summary['hole_psnr'], 2)} / {_fmt(summary['hole_ssim'], 4)}. "
             f"E_warp of the ground truth itself: {_fmt(summary['ewarp_ground_truth'], 5)}."]
    if summary["vfid"] is None:
        notes.append("VFID: skipped (no I3D weights given: pass i3d=PATH/i3d_rgb_imagenet.pt; it needs 2 or more videos).")
    if dataset not in PUBLISHED:
        notes.append(f"No published numbers for dataset {dataset!r}; known: {', '.join(PUBLISHED)}.")
    notes.append("Published E_warp values used FlowNet2 and other scales, so they are not comparable (reference section 5).")
    return "\n".join(lines + notes) + "\n"


def write_report(
    output_dir: Path,
    summary: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    settings: Mapping[str, Any],
    method: str,
    dataset: str | None,
) -> dict[str, Path]:
    """Write metrics.json, per_video.csv and results.md into ``output_dir``; returns their paths."""
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputFault(output_dir, os_fault_cause(error)) from error
    paths = {name: output_dir / name for name in ("metrics.json", "per_video.csv", "results.md")}
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=PER_VIDEO_COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _cell(row.get(key)) for key in PER_VIDEO_COLUMNS})
    _write_together({
        paths["metrics.json"]: json.dumps({"metrics": dict(summary), "settings": dict(settings)}, indent=2) + "\n",
        paths["per_video.csv"]: buffer.getvalue(),
        paths["results.md"]: results_table(summary, method, dataset),
    })
    return paths
