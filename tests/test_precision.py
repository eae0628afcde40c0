"""Precision choice: bf16 only where the hardware computes it natively, autocast really switches dtype."""

from __future__ import annotations

import pytest

from ragkit.precision import autocast, native_bf16, resolve_precision


def test_resolve_precision():
    assert resolve_precision("fp32", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"
    assert resolve_precision("auto", "cpu") == ("bf16" if native_bf16("cpu") else "fp32")
    assert resolve_precision("auto", "mps") == "fp32"
    with pytest.raises(ValueError, match="unknown precision 'half'"):
        resolve_precision("half", "cpu")


def test_native_bf16_reads_the_cpu_flags():
    from pathlib import Path

    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    assert native_bf16("cpu") == ("avx512_bf16" in flags or "amx_bf16" in flags)


def test_autocast_switches_matmul_dtype():
    import torch

    a = torch.randn(4, 8)
    with autocast("bf16", "cpu") as chosen:
        assert chosen == "bf16" and (a @ a.T).dtype == torch.bfloat16
    with autocast("fp32", "cpu") as chosen:
        assert chosen == "fp32" and (a @ a.T).dtype == torch.float32
