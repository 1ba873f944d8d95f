"""if-cli: a dependable, scriptable command line for the DeepFloyd IF cascade."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    """``__version__`` is read from package metadata on first use: importing
    importlib.metadata costs tens of milliseconds that ``--help`` should not pay."""
    if name != "__version__":
        raise AttributeError(name)
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("if-cli")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"
