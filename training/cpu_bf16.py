"""Whether this CPU computes bf16 itself, and what to say when it does not.

The demo is trained in bf16 autocast by default: on a CPU with AVX-512 BF16 (or AMX) that
is 1.5 times as fast as fp32. A CPU without it emulates every bf16 operation: on a 2-core
AVX2 machine a stage I step of 16 scenes took 8.0 s in bf16 and 0.67 s in fp32, so the
default run would take some 15 hours instead of 80 minutes. The run is not changed
behind the user's back (fp32 gives other weights than the shipped ones); it says so.
"""

from __future__ import annotations

from pathlib import Path

# x86 (Intel, AMD) and Arm names of the instructions that compute bf16 products.
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def cpu_flags(cpuinfo: str) -> frozenset[str] | None:
    """The feature flags of ``/proc/cpuinfo`` text (x86 ``flags``, Arm ``Features``), or
    None where the text names none (not Linux, or an unknown layout)."""
    for line in cpuinfo.splitlines():
        key, colon, value = line.partition(":")
        if colon and key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return None


def bf16_warning(precision: str, flags: frozenset[str] | None) -> str | None:
    """One line for stderr when ``precision`` is bf16 on a CPU known to lack bf16."""
    if precision != "bf16" or flags is None or flags & NATIVE_BF16_FLAGS:
        return None
    return (
        "warning: this CPU has no bf16 instructions (avx512_bf16, amx_bf16), so bf16 "
        "autocast is emulated and training runs about 12 times slower than in fp32; "
        "--precision fp32 is faster here, but gives other weights than the shipped ones"
    )


def this_cpus_flags() -> frozenset[str] | None:
    """This machine's CPU flags, or None where ``/proc/cpuinfo`` cannot be read."""
    try:
        return cpu_flags(Path("/proc/cpuinfo").read_text(errors="replace"))
    except OSError:
        return None
