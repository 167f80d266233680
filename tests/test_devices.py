"""Device and precision choice: `precision=auto` per device, the warning for emulated bf16 on a CPU."""

from __future__ import annotations

import warnings

import pytest
import torch

from sttn_lightning import devices
from sttn_lightning.errors import InputError


@pytest.mark.parametrize(("native_bf16", "expected"), [(True, "bf16"), (False, "fp32")])
def test_auto_on_cpu_follows_native_bf16(monkeypatch, native_bf16, expected):
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: native_bf16)
    assert devices.resolve_precision("auto", torch.device("cpu")) == expected


@pytest.mark.parametrize(("bf16_supported", "expected"), [(True, "bf16"), (False, "fp16")])
def test_auto_on_cuda_prefers_bf16_then_fp16(monkeypatch, bf16_supported, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: bf16_supported)
    assert devices.resolve_precision("auto", torch.device("cuda", 0)) == expected


def test_auto_elsewhere_is_fp32():
    assert devices.resolve_precision("auto", torch.device("mps")) == "fp32"


def test_explicit_bf16_on_a_cpu_without_native_bf16_warns_once_and_is_kept(monkeypatch):
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)
    with pytest.warns(RuntimeWarning, match=r"bf16 on a CPU without native bf16 .* about 10x slower than fp32") as caught:
        assert devices.resolve_precision("bf16", torch.device("cpu")) == "bf16"
    assert len(caught) == 1
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert devices.resolve_precision("bf16", torch.device("cpu")) == "bf16"
        assert devices.resolve_precision("fp32", torch.device("cpu")) == "fp32"


def test_unknown_precision_names_the_choices():
    with pytest.raises(InputError, match=r"precision: expected auto or one of \('fp32', 'bf16', 'fp16'\), found 'fp8'"):
        devices.resolve_precision("fp8", torch.device("cpu"))
