"""How many T5 tokens a prompt is, and what T5 never reads, without the encoder.

T5 reads the first 77 tokens of a prompt (76 of text and ``</s>``); DeepFloyd's package
and diffusers cut the rest silently. IF's pipelines lower-case and strip the prompt
(``encode_prompt(clean_caption=False)``) and tokenize it with the repo's sentencepiece
model, ``tokenizer/spiece.model``. Reading that file directly gives the same ids as
``T5Tokenizer`` in milliseconds, with no transformers import and no weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from if_cli.engine.models import ModelSource, damaged
from if_cli.engine.request import T5_MAX_TOKENS

SPIECE = Path("tokenizer") / "spiece.model"
EOS_TOKENS = 1  # T5 ends every prompt with </s>


@dataclass(frozen=True)
class TokenCount:
    """One prompt as T5 reads it."""

    prompt: str
    tokens: int  # with </s>
    cut: str  # the text past the limit, as T5 would have read it ("" when it all fits)

    @property
    def over(self) -> bool:
        return self.tokens > T5_MAX_TOKENS

    def problem(self) -> str:
        """``91 T5 tokens; T5 reads the first 77, so "…" is cut`` (when over)."""
        return (
            f"{self.tokens} T5 tokens; T5 reads the first {T5_MAX_TOKENS}, "
            f'so "{shorten(self.cut, 80)}" is cut'
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "tokens": self.tokens,
            "limit": T5_MAX_TOKENS,
            "over": self.over,
            "cut": self.cut,
        }


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class PromptTokenizer:
    """A stage's T5 tokenizer, as far as counting goes."""

    def __init__(self, source: ModelSource) -> None:
        self._processor = _processor(source)

    def count(self, prompt: str) -> TokenCount:
        text = prompt.lower().strip()
        pieces = _pieces(self._processor, text)
        kept = T5_MAX_TOKENS - EOS_TOKENS
        cut = _text_from(prompt.strip(), text, pieces[kept][0]) if len(pieces) > kept else ""
        return TokenCount(prompt, len(pieces) + EOS_TOKENS, cut)


def _pieces(processor: Any, text: str) -> list[tuple[int, int]]:
    """Each token of ``text`` as (byte offset where it starts, id)."""
    try:
        proto = processor.encode(text, return_type="proto")
    except (TypeError, ValueError):  # sentencepiece before 0.2.1
        proto = processor.encode(text, out_type="immutable_proto")
    return [(piece.begin, piece.id) for piece in proto.pieces]


def _text_from(original: str, lowered: str, offset: int) -> str:
    """The user's own words from byte ``offset`` of the lower-cased text on (lower-casing
    keeps every byte where it was for nearly all text; else the lower-cased words)."""
    source = original if len(original.encode()) == len(lowered.encode()) else lowered
    return source.encode()[offset:].decode(errors="replace").strip()


def _processor(source: ModelSource) -> Any:
    path = source.path / SPIECE
    try:
        return _load(str(path), path.stat().st_mtime_ns)
    except OSError as exc:
        raise damaged(source, path, "is missing or unreadable") from exc
    except RuntimeError as exc:  # sentencepiece's word for a file it cannot parse
        raise damaged(source, path, "is not a sentencepiece model") from exc


@lru_cache(maxsize=8)
def _load(path: str, _mtime: int) -> Any:
    import sentencepiece

    return sentencepiece.SentencePieceProcessor(model_file=path)
