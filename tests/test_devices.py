"""device= parsing (cuda:N included), precision=auto per device, and peak memory on every platform, Windows without `resource`."""

from __future__ import annotations

import subprocess
import sys
import types
import warnings

import pytest
import torch

from sttn_lightning import devices
from sttn_lightning.devices import DeviceError, peak_rss_mb, resolve_device
from sttn_lightning.errors import InputError


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


def test_cpu_and_auto_without_accelerators(monkeypatch):
    monkeypatch.setattr(devices, "_available", lambda kind: kind == "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cpu")


def test_auto_prefers_cuda(two_gpus):
    assert resolve_device("auto") == torch.device("cuda")


@pytest.mark.parametrize("name", ["cuda", "cuda:0", "cuda:1"])
def test_cuda_and_an_existing_cuda_index_are_accepted(two_gpus, name):
    assert resolve_device(name) == torch.device(name)


def test_cuda_index_past_the_last_gpu_names_the_range(two_gpus):
    with pytest.raises(DeviceError, match=r"device: cuda:2 does not exist; this machine has 2 CUDA device\(s\), cuda:0 to cuda:1"):
        resolve_device("cuda:2")


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "cuda:", "cpu:0", "mps:1"])
def test_malformed_names_are_input_errors(two_gpus, name):
    with pytest.raises(InputError, match=r"expected auto, cpu, cuda, cuda:N \(N a GPU index\) or mps"):
        resolve_device(name)


def test_missing_kind_suggests_auto(monkeypatch):
    monkeypatch.setattr(devices, "_available", lambda kind: kind == "cpu")
    with pytest.raises(DeviceError, match="device: cuda:0 is not available on this machine; pass device=auto"):
        resolve_device("cuda:0")


def test_peak_rss_grows_with_an_allocation():
    before = peak_rss_mb()
    block = bytearray(64 * 2**20)
    block[:: 4096] = b"x" * len(block[:: 4096])  # touch every page so it is resident
    assert peak_rss_mb() >= max(before, 64)


def test_peak_rss_on_windows_comes_from_psutil(monkeypatch):
    memory = types.SimpleNamespace(peak_wset=300 * 2**20)
    fake_psutil = types.SimpleNamespace(Process=lambda: types.SimpleNamespace(memory_info=lambda: memory))
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setitem(sys.modules, "psutil", fake_psutil)
    monkeypatch.setitem(sys.modules, "resource", None)  # as on Windows: importing it fails
    assert peak_rss_mb() == 300.0


@pytest.mark.slow  # a child process
def test_inference_imports_without_the_resource_module():
    code = "import sys; sys.modules['resource'] = None; import sttn_lightning.inference, sttn_lightning.devices"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


FREED_BUFFER_FAULTS = """
import resource, sys
import numpy as np
from sttn_lightning.devices import keep_freed_host_memory
if sys.argv[1] == "keep":
    assert keep_freed_host_memory()
faults = []
for _ in range(4):  # three frame-sized buffers made and freed, as a run does for every frame
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    buffers = [np.ones(6 * 2**20, np.uint8) for _ in range(3)]
    del buffers
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(max(faults[1:]))
"""


@pytest.mark.slow  # child processes: the setting is made once per process
@pytest.mark.skipif(devices._glibc() is None, reason="mallopt is glibc's")
def test_freed_frame_buffers_are_reused_without_page_faults():
    def faults(mode: str) -> int:
        result = subprocess.run([sys.executable, "-c", FREED_BUFFER_FAULTS, mode], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return int(result.stdout)

    pages = 3 * 6 * 2**20 // 4096
    assert faults("default") > pages // 4  # glibc's defaults: a freed buffer's pages go back and fault in again
    assert faults("keep") < pages // 20


def test_keeping_freed_memory_is_a_no_op_without_glibc(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert devices._glibc() is None
    assert devices.keep_freed_host_memory.__wrapped__() is False


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
