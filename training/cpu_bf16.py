"""Whether PyTorch computes bf16 natively on this CPU, and what to say when it does not.

The demo is trained in bf16 autocast by default: on a CPU with AVX-512 BF16 that is 1.5
times as fast as fp32. Where PyTorch's CPU kernels (oneDNN) have no bf16 support, every
bf16 operation is emulated: on a 2-core AVX2 machine six stage I steps of 16 scenes took
47 s in bf16 and 4 s in fp32. The run is not changed behind the user's back (fp32
gives other weights than the shipped ones); it says so before its first step.
"""

from __future__ import annotations


def native_bf16() -> bool | None:
    """PyTorch's own answer (the check its bf16 matmuls and convolutions make), or None
    where this build cannot say."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return None


def bf16_warning(precision: str, native: bool | None) -> str | None:
    """One line for stderr when ``precision`` is bf16 where PyTorch has no bf16 kernels."""
    if precision != "bf16" or native is not False:
        return None
    return (
        "warning: PyTorch has no native bf16 kernels on this CPU, so bf16 autocast is "
        "emulated and training can run many times slower than in fp32 (over 10 times on "
        "a 2-core AVX2 machine); --precision fp32 is faster here, but gives other weights "
        "than the shipped ones"
    )
