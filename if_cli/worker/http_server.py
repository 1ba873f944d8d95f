"""uvicorn's server with the worker's stop reasons and idle timeout (imports uvicorn)."""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

import uvicorn

from if_cli.worker.jobs import JobRunner


class WorkerServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, runner: JobRunner, idle_timeout_s: float) -> None:
        super().__init__(config)
        self.runner = runner
        self.idle_timeout_s = idle_timeout_s
        self.reason = "stopped"

    def request_stop(self, reason: str) -> None:
        self.reason = reason
        self.should_exit = True

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Not uvicorn's own: that raises the signal again once stopped, and a worker
        that stopped cleanly on SIGTERM exits 0. A second Ctrl-C stops at once."""
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.request_stop(signal.Signals(sig).name)

    async def on_tick(self, counter: int) -> bool:
        if await super().on_tick(counter):
            return True
        idle = self.runner.idle_seconds()
        if self.idle_timeout_s and idle is not None and idle >= self.idle_timeout_s:
            self.reason = "idle timeout"
            return True
        return False

    async def shutdown(self, sockets: Any = None) -> None:
        self.runner.stop(self.reason)
        await super().shutdown(sockets)
