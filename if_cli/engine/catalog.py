"""The published IF models by short name, so users type ``I-XL`` instead of a repo id."""

from __future__ import annotations

from if_cli.errors import InvalidRequestError

MODEL_ALIASES: dict[str, str] = {
    "I-XL": "DeepFloyd/IF-I-XL-v1.0",
    "I-L": "DeepFloyd/IF-I-L-v1.0",
    "I-M": "DeepFloyd/IF-I-M-v1.0",
    "II-L": "DeepFloyd/IF-II-L-v1.0",
    "II-M": "DeepFloyd/IF-II-M-v1.0",
    "x4": "stabilityai/stable-diffusion-x4-upscaler",
}
DEFAULT_CASCADE = ("I-XL", "II-L", "x4")
_BY_REPO = {repo: alias for alias, repo in MODEL_ALIASES.items()}


def repo_id_for(name: str) -> str:
    """An alias or a hub id (``owner/name``) → the hub id."""
    if name in MODEL_ALIASES:
        return MODEL_ALIASES[name]
    owner, slash, repo = name.partition("/")
    if not slash or not owner or not repo or "/" in repo:
        raise InvalidRequestError(
            f"unknown model {name!r}",
            hint="use a hub id (owner/name) or one of " + ", ".join(MODEL_ALIASES),
        )
    return name


def short_name(repo_id: str) -> str:
    """The alias of a published repo, else the repo id itself."""
    return _BY_REPO.get(repo_id, repo_id)
