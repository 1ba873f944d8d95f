"""if-cli: a dependable, scriptable command line for the DeepFloyd IF cascade."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("if-cli")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
