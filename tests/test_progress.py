"""Decoration only where a person is watching: bars on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io

import pytest

from if_cli.engine.events import ProgressEvent
from if_cli.progress import PlainProgress, fancy_output_allowed


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bars_only_on_a_terminal_without_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert fancy_output_allowed(_Terminal())
    assert not fancy_output_allowed(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not fancy_output_allowed(_Terminal())
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    assert not fancy_output_allowed(_Terminal())


def test_plain_progress_prints_a_few_lines_per_stage(capsys: pytest.CaptureFixture[str]) -> None:
    report = PlainProgress()
    report(ProgressEvent("stage_1", "load", 0, 1, "DeepFloyd/IF-I-XL-v1.0"))
    for step in range(101):
        report(ProgressEvent("stage_1", "run", step, 100))
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "if-cli: stage I: loading DeepFloyd/IF-I-XL-v1.0",
        *(f"if-cli: stage I: step {n}/100" for n in (0, 25, 50, 75, 100)),
    ]


def test_plain_progress_always_reports_the_last_step(capsys: pytest.CaptureFixture[str]) -> None:
    report = PlainProgress()
    for step in range(11):
        report(ProgressEvent("stage_1", "run", step, 10))
    steps = [line.rsplit(" ", 1)[1] for line in capsys.readouterr().err.splitlines()]
    assert steps == ["0/10", "3/10", "5/10", "8/10", "10/10"]
