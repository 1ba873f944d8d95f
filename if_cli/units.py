"""Byte counts for people: one way to print them, one way to read them."""

from __future__ import annotations

import re

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def human_bytes(count: int | float) -> str:
    """``1536`` → ``1.50 KiB``; ``10_700_000_000`` → ``9.97 GiB``."""
    value = float(count)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{int(value)} B" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


_SIZE = re.compile(r"^\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>[kmgt]?i?b?)\s*$", re.IGNORECASE)
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}


def parse_bytes(text: str) -> int:
    """``"24GiB"`` → 25769803776; ``"500MB"`` → 500000000; ``"24G"`` is taken as GiB.

    A bare number has no unit to go by and is refused, as are zero and nonsense.
    Raises ValueError with a message fit to show.
    """
    match = _SIZE.match(text)
    if match is None or not match["unit"]:
        raise ValueError(f"{text!r} is not a size; write it like 24GiB, 24GB or 500MiB")
    unit = match["unit"].lower()
    power = _POWERS[unit[0] if unit[0] in "kmgt" else ""]
    base = 1000 if unit.endswith("b") and "i" not in unit and power else 1024
    count = int(float(match["number"]) * base**power)
    if count <= 0:
        raise ValueError(f"{text!r} is no memory at all")
    return count


_DURATION = re.compile(r"^\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>s|m|min|h)?\s*$", re.IGNORECASE)
_SECONDS = {"": 1, "s": 1, "m": 60, "min": 60, "h": 3600}


def parse_duration(text: str) -> float:
    """``"90s"`` → 90; ``"15m"`` → 900; ``"2h"`` → 7200; a bare number is seconds.

    Raises ValueError with a message fit to show.
    """
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration; write it like 90s, 15m or 2h")
    return float(match["number"]) * _SECONDS[(match["unit"] or "").lower()]
