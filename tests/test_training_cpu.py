"""Training warns, before its first step, where bf16 autocast would be emulated."""

from __future__ import annotations

import pytest

from training.cpu_bf16 import bf16_warning, native_bf16


def test_bf16_without_native_kernels_gets_one_line_naming_the_way_out() -> None:
    line = bf16_warning("bf16", native=False)
    assert line is not None and "\n" not in line
    assert "emulated" in line and "--precision fp32" in line


@pytest.mark.parametrize(("precision", "native"), [("bf16", True), ("fp32", False), ("bf16", None)])
def test_no_warning_where_bf16_is_native_not_asked_for_or_unknown(
    precision: str, native: bool | None
) -> None:
    assert bf16_warning(precision, native) is None


def test_the_pinned_pytorch_answers_whether_its_cpu_kernels_have_bf16() -> None:
    """The check is a private PyTorch op: a PyTorch without it would silence the warning."""
    assert native_bf16() in (True, False)
