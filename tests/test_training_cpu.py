"""Training warns, before its first step, where bf16 autocast would be emulated."""

from __future__ import annotations

import pytest

from training.cpu_bf16 import bf16_warning, cpu_flags

AVX2_ONLY = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx avx2 fma\n"
AVX512_BF16 = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n"
ARM_BF16 = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n"


def test_the_flags_are_read_from_x86_and_arm_cpuinfo() -> None:
    assert cpu_flags(AVX2_ONLY) == {"fpu", "sse2", "avx", "avx2", "fma"}
    assert "bf16" in (cpu_flags(ARM_BF16) or ())
    assert cpu_flags("no flags here\n") is None


def test_bf16_on_a_cpu_without_bf16_instructions_gets_one_line_naming_the_way_out() -> None:
    line = bf16_warning("bf16", cpu_flags(AVX2_ONLY))
    assert line is not None and "\n" not in line
    assert "12 times slower" in line and "--precision fp32" in line


@pytest.mark.parametrize(
    ("precision", "cpuinfo"),
    [("bf16", AVX512_BF16), ("bf16", ARM_BF16), ("fp32", AVX2_ONLY), ("bf16", "unknown\n")],
)
def test_no_warning_where_bf16_is_native_not_asked_for_or_unknown(
    precision: str, cpuinfo: str
) -> None:
    assert bf16_warning(precision, cpu_flags(cpuinfo)) is None
