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


class _Clock:
    """A clock that moves only when told: progress lines with a known pace."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plain_progress_prints_a_few_lines_per_stage_with_pace_and_time_left(
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = _Clock()
    report = PlainProgress(clock)
    report(ProgressEvent("stage_1", "load", 0, 1, "DeepFloyd/IF-I-XL-v1.0"))
    for step in range(101):
        report(
            ProgressEvent("stage_1", "run", step, 100, images=(1 + min(step, 99) // 50,) * 2 + (2,))
        )
        clock.now += 0.5  # 2 steps a second
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "if-cli: stage I: loading DeepFloyd/IF-I-XL-v1.0",
        "if-cli: stage I: step 0/100 (image 1 of 2)",
        "if-cli: stage I: step 25/100 (image 1 of 2; 2.00 steps/s, about 38 s left)",
        "if-cli: stage I: step 50/100 (image 2 of 2; 2.00 steps/s, about 25 s left)",
        "if-cli: stage I: step 75/100 (image 2 of 2; 2.00 steps/s, about 12 s left)",
        "if-cli: stage I: step 100/100 (image 2 of 2; 2.00 steps/s, 50 s in all)",
    ]


def test_plain_progress_always_reports_the_last_step(capsys: pytest.CaptureFixture[str]) -> None:
    report = PlainProgress(_Clock())
    for step in range(11):
        report(ProgressEvent("stage_1", "run", step, 10))
    steps = [line.split(": step ")[1] for line in capsys.readouterr().err.splitlines()]
    assert steps == ["0/10", "3/10", "5/10", "8/10", "10/10"]


def test_a_batch_is_shown_as_the_images_it_makes() -> None:
    assert ProgressEvent("stage_2", "run", 1, 8, images=(3, 4, 8)).which_images == (
        "images 3–4 of 8"
    )
    assert ProgressEvent("text", "run", 1, 3, images=(1, 1, 3)).which_images == "prompt 1 of 3"
