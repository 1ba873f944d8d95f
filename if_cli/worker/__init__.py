"""The warm worker: ``if-cli serve`` keeps the cascade loaded between commands.

``server`` and ``jobs`` run in the worker process (an HTTP+JSON API over a private Unix
socket, one job at a time on one engine); ``client`` is the engine the commands use
instead of their own when a worker runs; ``wire`` is the format both speak. The worker
never writes into users' folders: it hands back pixels, and the client writes them with
the same writer, names and sidecars as an in-process run.
"""
