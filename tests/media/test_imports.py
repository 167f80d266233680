"""The media layer and inference stay light: importing them pulls in no training or logging stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("lightning", "pytorch_lightning", "albumentations", "wandb", "decord")
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.mark.slow
@pytest.mark.parametrize("package", ["sttn_lightning.media", "sttn_lightning.inference"])
def test_import_loads_no_heavy_package(package):
    script = (
        f"import importlib, json, sys; importlib.import_module({package!r}); "
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
