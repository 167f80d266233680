"""The three report files, with infinite values written as such and published numbers beside ours."""

import csv
import json
import math

from sttn_lightning.evaluation import PUBLISHED, results_table, write_report

SUMMARY = {
    "videos": 2, "frames": 13, "psnr": math.inf, "ssim": 1.0, "hole_psnr": math.inf, "hole_ssim": 1.0,
    "vfid": None, "ewarp": 0.0012, "ewarp_ground_truth": 0.0012,
}


def test_write_report_writes_json_csv_and_markdown(tmp_path):
    rows = [{"video_id": "a", "frames": 6, "psnr": math.inf, "ssim": 1.0, "hole_psnr": math.inf, "hole_ssim": 1.0,
             "ewarp": 0.001, "ewarp_ground_truth": 0.001}]
    paths = write_report(tmp_path / "out", SUMMARY, rows, {"size": [432, 240]}, "sttn.pth", "davis")
    metrics = json.loads(paths["metrics.json"].read_text())
    assert metrics["metrics"]["psnr"] == math.inf and metrics["settings"]["size"] == [432, 240]
    (row,) = list(csv.DictReader(paths["per_video.csv"].open()))
    assert row["video_id"] == "a" and row["psnr"] == "inf" and float(row["ssim"]) == 1.0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["metrics.json", "per_video.csv", "results.md"]


def test_table_shows_published_rows_and_notes_a_skipped_vfid():
    table = results_table(SUMMARY, "sttn.pth", "davis")
    assert "| sttn.pth (this run) | inf | 1.0000 | n/a |" in table
    for name, (psnr, ssim, vfid) in PUBLISHED["davis"].items():
        assert f"| {name} (published) | {psnr:.2f} | {ssim:.4f} | {vfid:.3f} |" in table
    assert "VFID: skipped" in table


def test_table_for_an_unknown_dataset_says_so():
    table = results_table(SUMMARY | {"vfid": 0.5}, "x", "demo")
    assert "No published numbers for dataset 'demo'" in table
    assert "VFID: skipped" not in table
