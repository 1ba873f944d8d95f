"""``--seed``: a first seed (``7``: image i gets 7 + i), a list (``1,5,9``) or a range
(``10-17``), or both mixed (``1,5,10-12``). A list or range gives every prompt each of
its seeds, in order, so the same seeds can be compared across prompts and sweeps."""

from __future__ import annotations

from if_cli.engine.request import MAX_NUM_IMAGES, MAX_SEED
from if_cli.errors import BadFieldError

Seeds = int | tuple[int, ...] | None


def parse_seeds(value: object) -> Seeds:
    """``None`` (random), a first seed, or a tuple of listed seeds."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value  # type: ignore[return-value]
    text = str(value).strip()
    if text.isdigit():
        return _seed(text, text)
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        low, dash, high = part.partition("-")
        if dash and low:
            first, last = _seed(low, text), _seed(high, text)
            if last < first:
                raise BadFieldError("seed", f"range {part} runs backwards; write {last}-{first}")
            if last - first >= MAX_NUM_IMAGES:
                raise BadFieldError("seed", f"range {part} has more than {MAX_NUM_IMAGES} seeds")
            seeds.extend(range(first, last + 1))
        else:
            seeds.append(_seed(part, text))
        if len(seeds) > MAX_NUM_IMAGES:
            raise BadFieldError("seed", f"lists more than {MAX_NUM_IMAGES} seeds")
    twice = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if twice:
        raise BadFieldError("seed", f"lists seed {twice[0]} more than once, got {text!r}")
    return tuple(seeds)


def _seed(text: str, whole: str) -> int:
    text = text.strip()
    negative = text.startswith("-") and text[1:].isascii() and text[1:].isdigit()
    if not negative and (not text.isascii() or not text.isdigit()):
        raise BadFieldError(
            "seed",
            f"must be a whole number: a seed (7), a list (1,5,9) or a range (10-17), got {whole!r}",
        )
    seed = int(text)
    if not 0 <= seed <= MAX_SEED:
        raise BadFieldError("seed", f"must be from 0 to {MAX_SEED}, got {seed}")
    return seed
