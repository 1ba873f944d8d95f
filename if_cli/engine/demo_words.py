"""Which words of a prompt the demo cascade does not know.

The demo learnt from captions of a small world ("a red circle above a blue square on a
grey background"); any other word reaches its text encoder as noise and is drawn as
nothing in particular. Its vocabulary ships beside it (``demo/vocabulary.json``, written
by its training script) so that a run can say which words it will ignore.
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cache

from if_cli.engine.catalog import DEMO_FOLDER

VOCABULARY_FILE = DEMO_FOLDER / "vocabulary.json"
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")  # "word17" and "circle's" are one word each


@dataclass(frozen=True)
class Vocabulary:
    shapes: tuple[str, ...]
    colours: tuple[str, ...]
    positions: tuple[str, ...]
    backgrounds: tuple[str, ...]
    words: frozenset[str]

    @property
    def known(self) -> frozenset[str]:
        """Words that mean something anywhere in a prompt (not the background colours)."""
        return self.words | set(self.shapes) | set(self.colours)

    def summary(self) -> str:
        """What the demo knows, in one sentence."""
        return (
            f"it knows {_listed(self.shapes, 's')}; {_listed(self.colours, joint=' or ')}; "
            f"{_listed(self.positions, joint=' or ')} (as in 'a red circle above a blue "
            f"square'); and {_listed(self.backgrounds, joint=' or ')} backgrounds "
            f"('on a {self.backgrounds[-1]} background')"
        )

    def named(self, word: str) -> str:
        """``word`` quoted, saying where it would count, or the known word it is close to."""
        if word in self.backgrounds:
            return f"{word!r} (only as a background)"
        close = difflib.get_close_matches(word, sorted(self.known | set(self.backgrounds)), 1, 0.8)
        return f"{word!r} (did you mean {close[0]!r}?)" if close else repr(word)


def _listed(items: tuple[str, ...], suffix: str = "", joint: str = " and ") -> str:
    words = [item + suffix for item in items]
    return ", ".join(words[:-1]) + joint + words[-1] if len(words) > 1 else "".join(words)


@cache
def demo_vocabulary() -> Vocabulary:
    data = json.loads(VOCABULARY_FILE.read_text(encoding="utf-8"))
    return Vocabulary(
        tuple(data["shapes"]),
        tuple(data["colours"]),
        tuple(data["positions"]),
        tuple(data["backgrounds"]),
        frozenset(data["words"]),
    )


def unknown_words(prompt: str, vocabulary: Vocabulary | None = None) -> list[str]:
    """The words of ``prompt`` the demo never saw where they stand, each once, in order.

    A background colour counts only in "on a … background" ("a white star" asks for a
    colour no shape was drawn in). Case and width do not matter: the pipeline lowercases,
    and its tokenizer folds full-width letters (NFKC) as this does.
    """
    vocabulary = vocabulary or demo_vocabulary()
    prompt = unicodedata.normalize("NFKC", prompt)
    backgrounds = "|".join(map(re.escape, vocabulary.backgrounds))
    text = re.sub(rf"\bon\s+an?\s+(?:{backgrounds})\s+background\b", " ", prompt.lower())
    unknown: list[str] = []
    for word in _WORD.findall(text):
        if word not in vocabulary.known and word not in unknown:
            unknown.append(word)
    return unknown
