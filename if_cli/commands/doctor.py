"""``if-cli doctor``: can generation work here, and if not, what to do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from if_cli.commands import options as opt
from if_cli.engine.catalog import DEFAULT_PRESET
from if_cli.errors import DoctorFoundProblems

_MARK = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}


def doctor(
    context: typer.Context,
    model: opt.ModelPreset = DEFAULT_PRESET,
    stages: opt.LastStage = 3,
    stage_1_model: opt.Stage1Model = opt.DEFAULT_MODELS[0],
    stage_2_model: opt.Stage2Model = opt.DEFAULT_MODELS[1],
    stage_3_model: opt.Stage3Model = opt.DEFAULT_MODELS[2],
    device: opt.Device = "auto",
    dtype: opt.DType = "auto",
    offload: opt.Offload = "auto",
    variant: opt.Variant = "auto",
    out: opt.OutDir = Path("."),
    cache_dir: opt.CacheDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array on stdout.")] = False,
) -> None:
    """Check Python, libraries, device, token, cached models, disk space and the memory
    plan; exit non-zero with the fix when generation cannot work.

    Takes the same model and placement options as generate (and their config defaults):
    `if-cli doctor --model demo` checks what the demo needs, and nothing it does not.
    """
    from if_cli.commands.cascade_options import preset_filled, set_by_user
    from if_cli.engine.diagnostics import Setup, run_all

    chosen = preset_filled(
        {
            "model": model,
            "stages": stages,
            "stage_1_model": stage_1_model,
            "stage_2_model": stage_2_model,
            "stage_3_model": stage_3_model,
        },
        set_by_user(context),
    )
    setup = Setup(
        models=(chosen["stage_1_model"], chosen["stage_2_model"], chosen["stage_3_model"]),
        last_stage=chosen["stages"],
        device=device,
        dtype=dtype,
        offload=offload,
        variant=variant,
        out=out,
        cache_dir=cache_dir,
    )
    checks = run_all(setup)
    if as_json:
        print(json.dumps([c.__dict__ for c in checks], indent=2))
    else:
        width = max(len(c.name) for c in checks)
        for check in checks:
            fix = f"  → {check.fix}" if check.fix and check.status != "ok" else ""
            print(f"{_MARK[check.status]}  {check.name:<{width}}  {check.detail}{fix}")
    failed = [c for c in checks if c.status == "fail"]
    if failed:
        raise DoctorFoundProblems(
            f"{len(failed)} problem(s) stop generation; first: {failed[0].name}: "
            f"{failed[0].detail}",
            hint=f"fix: {failed[0].fix}" if failed[0].fix else None,
        )
