"""What a new user and a scripter meet first, through the real CLI: resuming without a
seed, every image reported on stdout, per-image timings, option names everywhere, short
answers to a forgotten argument, help at 80 columns, the demo everywhere."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CLI

Cli = Callable[..., subprocess.CompletedProcess[str]]
DEMO_DRAFT = ["--model", "demo", "--stages", "1", "--steps", "2"]  # seconds on a CPU
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def demo_picture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 32 px demo picture with its sidecar (seed 3, negative prompt "blurry"),
    shared by the tests that only read it."""
    folder = tmp_path_factory.mktemp("demo-picture")
    made = subprocess.run(
        [str(CLI), "generate", "a red circle", *DEMO_DRAFT, "--seed", "3", "-n", "blurry"],
        cwd=folder,
        env={**os.environ, "HOME": str(folder)},
        capture_output=True,
        text=True,
        check=True,
    )
    return folder / made.stdout.strip()


def _seeds(folder: Path) -> list[int]:
    return sorted(json.loads(p.read_text())["image"]["seed"] for p in folder.glob("*.json"))


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line]


def test_a_run_without_seed_resumes_until_it_is_finished_then_asks_anew(
    cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = ["generate", "a red circle", *DEMO_DRAFT, "--num-images", "3", "-o", str(out)]
    first = cli(*args)
    assert first.returncode == 0, first.stderr
    seeds = _seeds(out)
    assert seeds == [seeds[0], seeds[0] + 1, seeds[0] + 2]
    assert f"seed {seeds[0]} (drawn at random): the same command resumes" in first.stderr
    last = max(out.glob("*.png"))  # as if the run had been stopped before its last image
    last.unlink()
    last.with_suffix(".json").unlink()

    resumed = cli(*args)
    assert resumed.returncode == 0, resumed.stderr
    assert f"seed {seeds[0]}, from the earlier run in {out}" in resumed.stderr
    assert "1 image(s) written, 2 skipped" in resumed.stderr
    assert _seeds(out) == seeds
    assert len(_lines(resumed.stdout)) == 3  # the two found and the one made

    again = cli(*args)  # the run is finished: asking again makes new pictures
    assert again.returncode == 0, again.stderr
    assert "3 image(s) written, 0 skipped" in again.stderr
    assert len(set(_seeds(out)) - set(seeds)) == 3


def test_a_prompt_file_run_again_makes_only_what_is_new_and_lists_every_image(
    cli: Cli, tmp_path: Path
) -> None:
    prompts = tmp_path / "queue.txt"
    prompts.write_text("a red circle\n# a comment\na blue square\n")
    out = tmp_path / "renders"
    args = ["generate", "--prompts", str(prompts), *DEMO_DRAFT, "-o", str(out), "--json"]
    first = cli(*args)
    assert first.returncode == 0, first.stderr
    made = [json.loads(line) for line in _lines(first.stdout)]
    assert [r["skipped"] for r in made] == [False, False]

    second = cli(*args)  # cron, the next night
    assert second.returncode == 0, second.stderr
    again = [json.loads(line) for line in _lines(second.stdout)]
    assert [r["skipped"] for r in again] == [True, True]
    assert [(r["path"], r["seed"], r["sidecar"]) for r in again] == [
        (r["path"], r["seed"], r["sidecar"]) for r in made
    ]
    assert "0 image(s) written, 2 skipped" in second.stderr
    assert "loading" not in second.stderr

    link = tmp_path / "link.txt"
    link.symlink_to(prompts)  # the same file by another name is the same run
    planned = cli("generate", "--prompts", str(link), *DEMO_DRAFT, "-o", str(out), "--dry-run")
    assert planned.stdout.startswith("# nothing to make: all 2 image(s) are already in")

    with prompts.open("a") as queue:
        queue.write("a green star\n")
    third = cli(*args)
    records = [json.loads(line) for line in _lines(third.stdout)]
    assert [r["skipped"] for r in records] == [True, True, False]
    assert records[2]["seed"] == made[0]["seed"] + 2
    plain = cli(*args[:-1])  # without --json: the paths of every image
    assert _lines(plain.stdout) == [r["path"] for r in records]


def test_a_run_record_that_is_not_if_clis_is_ignored_with_a_warning(
    cli: Cli, tmp_path: Path
) -> None:
    prompts = _write(tmp_path / "queue.txt", "a red circle\n")
    out = tmp_path / "out"
    args = ["generate", "--prompts", str(prompts), *DEMO_DRAFT, "-o", str(out)]
    assert cli(*args).returncode == 0
    (sidecar,) = out.glob("*.json")
    record = json.loads(sidecar.read_text())
    record["image"]["run"] = {"key": record["image"]["run"]["key"], "seed": -5}
    sidecar.write_text(json.dumps(record))
    again = cli(*args)
    assert again.returncode == 0, again.stderr
    assert f"ignored the run record (image.run) of 1 sidecar(s) in {out}" in again.stderr
    assert sidecar.name in again.stderr
    # Nothing says which seed the run had: it draws a new one, and the old image stays.
    assert "1 image(s) written, 0 skipped" in again.stderr and sidecar.exists()


def test_the_ci_recipe_counts_every_image_on_its_second_run_too(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "prompts.txt").write_text("# shapes\na red circle\n\na blue square\n")
    recipe = (ROOT / "docs" / "scripting.md").read_text().split("## CI", 1)[1]
    script = recipe.split("```sh\n", 1)[1].split("```", 1)[0]
    demo = script.replace("if-cli doctor", "if-cli doctor --model demo").replace(
        "--stages 1", "--stages 1 --model demo --steps 2"
    )
    environment = {**os.environ, "PATH": f"{CLI.parent}:{os.environ['PATH']}"}
    environment["HOME"] = str(tmp_path / "home")
    for run in (1, 2):
        done = subprocess.run(
            ["bash", "-c", demo], cwd=tmp_path, env=environment, capture_output=True, text=True
        )
        assert done.returncode == 0, f"run {run}: {done.stderr}"
        assert len(_lines((tmp_path / "artifacts" / "images.jsonl").read_text())) == 2


def test_json_timings_are_what_each_image_cost(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    made = cli(
        "generate",
        "--prompts",
        "-",
        *DEMO_DRAFT,
        "--batch-size",
        "2",
        "--no-embedding-cache",
        "--seed",
        "5",
        "-o",
        str(out),
        "--json",
        stdin=_write(tmp_path / "p.txt", "a red circle\na blue square\na green star\n"),
    )
    assert made.returncode == 0, made.stderr
    records = [json.loads(line) for line in _lines(made.stdout)]
    timings = [r["timings_s"] for r in records]
    assert all(set(t) == {"text", "stage_1"} for t in timings)
    assert timings[0] == timings[1]  # one batch, shared evenly
    assert timings[2]["stage_1"] != timings[0]["stage_1"]  # a batch of its own
    assert timings[0]["text"] == timings[2]["text"]  # T5 ran once for all three
    for record in records:
        side = json.loads(Path(record["sidecar"]).read_text())["timings_s"]
        for phase, seconds in record["timings_s"].items():
            assert seconds == pytest.approx(side[phase]["load"] + side[phase]["run"], abs=2e-4)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_config_keys_and_variables_are_the_long_option_names(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('json = true\n[upscale]\nfrom = "256"\n')
    shown = cli(
        "config",
        "show",
        "--json",
        env={"IF_CLI_CONFIG": str(config), "IF_CLI_STRENGTH": "0.5"},
    )
    assert shown.returncode == 0, shown.stderr
    settings = {(s["command"], s["option"]): s for s in json.loads(shown.stdout)}
    assert settings[("generate", "json")]["value"] is True
    assert settings[("generate", "json")]["source"] == f"config {config}:1"
    assert settings[("upscale", "from")]["value"] == "256"
    assert settings[("img2img", "strength")]["source"] == "IF_CLI_STRENGTH"
    assert settings[("style", "strength")]["value"] == 0.5

    old_name = cli("config", "show", "--json", env={"IF_CLI_AS_JSON": "1"})
    assert old_name.returncode == 0 and "matches no if-cli option" not in old_name.stderr
    legacy = {(s["command"], s["option"]): s for s in json.loads(old_name.stdout)}
    assert legacy[("generate", "json")]["source"] == "IF_CLI_AS_JSON"  # any command's old name
    twice = cli("config", "show", env={"IF_CLI_JSON": "1", "IF_CLI_JSON_OUTPUT": "0"})
    assert twice.returncode == 2
    assert "IF_CLI_JSON and IF_CLI_JSON_OUTPUT both set --json" in twice.stderr


def test_doctor_checks_what_the_demo_needs_and_nothing_else(cli: Cli, tmp_path: Path) -> None:
    empty = {"HF_HOME": str(tmp_path / "no-models")}
    demo = cli("doctor", "--model", "demo", env=empty)
    assert demo.returncode == 0, demo.stderr
    assert "demo-I, shipped with if-cli" in demo.stdout
    assert "stage 3 model" not in demo.stdout
    full = cli("doctor", env=empty)
    assert full.returncode == 9
    assert "if-cli download I-XL II-L x4" in full.stderr and "--model demo" in full.stderr


def test_every_missing_model_is_named_in_one_error_with_the_demo(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    missing = cli("generate", "a fox", "-o", str(out), env={"HF_HOME": str(tmp_path / "none")})
    assert missing.returncode == 3
    assert _lines(missing.stderr) == [missing.stderr.strip()]
    for repo in ("IF-I-XL-v1.0", "IF-II-L-v1.0", "stable-diffusion-x4-upscaler"):
        assert repo in missing.stderr
    assert "`if-cli download I-XL II-L x4`" in missing.stderr
    assert "--model demo" in missing.stderr
    assert not out.exists()


def test_dry_run_plans_from_published_sizes_before_anything_is_downloaded(
    cli: Cli, tmp_path: Path
) -> None:
    plan = cli(
        "generate",
        "a fox",
        "--dry-run",
        "--device",
        "cpu",
        "--dtype",
        "fp16",
        env={"HF_HOME": str(tmp_path / "none")},
    )
    assert plan.returncode == 0, plan.stderr
    assert "seeds random: drawn when the run starts" in plan.stdout
    text_row = next(line for line in plan.stdout.splitlines() if line.startswith("T5"))
    assert re.search(r"10\.7\d GiB", text_row) and "(not downloaded)" in text_row  # IF.md: 10.7
    assert "`if-cli download I-XL II-L x4` fetches them" in plan.stdout
    header = next(line for line in plan.stdout.splitlines() if line.startswith("phase"))
    column = header.index("resident while it runs")
    for row in plan.stdout.splitlines()[plan.stdout.splitlines().index(header) + 1 :][:4]:
        assert row[column - 2 : column] == "  " and row[column] != " ", row  # in line


def test_models_lists_the_shipped_demo_which_cannot_be_removed(cli: Cli) -> None:
    listed = cli("models", "--json")
    shipped = [m for m in json.loads(listed.stdout) if m["shipped"]]
    assert [m["name"] for m in shipped] == ["demo-I", "demo-II"]
    assert all(m["complete"] for m in shipped)
    refused = cli("models", "rm", "demo-I", "--yes")
    assert refused.returncode == 2 and "ships inside if-cli" in refused.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ((), "if-cli: error: a command is missing (see 'if-cli --help')"),
        (("generate",), "PROMPT or --prompts is missing"),
        (("inpaint",), "IMAGE, MASK and PROMPT are missing"),
        (("config",), "a command is missing"),
    ],
)
def test_nothing_to_do_is_a_usage_line_and_one_error(
    cli: Cli, args: tuple[str, ...], says: str
) -> None:
    done = cli(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    usage, error = _lines(done.stderr)
    assert usage.startswith("Usage: if-cli") and says in error


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--stages", "4"), "if-cli: error: --stages must be from 1 to 3, got 4"),
        (("--num-images", "0"), "--num-images must be from 1 to 10000, got 0"),
        (("--steps", "0"), "--steps must be from 1 to 1000"),
        (("--stage-2-noise-level", "2000"), "--stage-2-noise-level must be from 0 to 999"),
        (("--model", "dmeo"), "--model: 'dmeo' is not one of if, demo (did you mean demo?)"),
        (("--num-images", "many"), "--num-images must be a whole number"),
        (("--batch-size", "99999999999"), "--batch-size must be from 1 to 10000"),
    ],
)
def test_errors_name_the_option_the_user_typed(cli: Cli, args: tuple[str, ...], says: str) -> None:
    done = cli("generate", "x", *args)
    assert done.returncode == 2
    assert says in done.stderr
    assert not re.search(r"last_stage|num_images|Value error|stage_\d\.", done.stderr)


def test_a_bad_default_names_the_variable_or_config_line_it_came_from(
    cli: Cli, tmp_path: Path
) -> None:
    variable = cli("generate", "x", "--model", "demo", env={"IF_CLI_NUM_IMAGES": "0"})
    assert variable.returncode == 2
    assert "IF_CLI_NUM_IMAGES: --num-images must be from 1 to 10000, got 0" in variable.stderr
    config = _write(tmp_path / "c.toml", "[generate]\nguidance_scale = nan\n")
    filed = cli("generate", "x", "--model", "demo", env={"IF_CLI_CONFIG": str(config)})
    assert f"config {config}:2: --guidance-scale must be a number" in filed.stderr
    typed = cli("generate", "x", env={"IF_CLI_NUM_IMAGES": "abc"})
    assert "IF_CLI_NUM_IMAGES: bad value 'abc' for --num-images: must be a whole number" in (
        typed.stderr
    )


def test_replay_takes_the_png_and_says_what_is_wrong_in_words(
    cli: Cli, tmp_path: Path, demo_picture: Path
) -> None:
    png = demo_picture
    again = cli("replay", str(png), "-o", str(tmp_path / "again"))
    assert again.returncode == 0, again.stderr
    assert Path(again.stdout.strip()).read_bytes() == png.read_bytes()

    bare = tmp_path / "bare.png"
    bare.write_bytes(png.read_bytes())
    lonely = cli("replay", str(bare))
    assert lonely.returncode == 2
    assert "bare.png has no if-cli sidecar beside it (bare.json)" in lonely.stderr
    assert "nosuch.json does not exist" in cli("replay", str(tmp_path / "nosuch.json")).stderr


def test_help_reads_well_at_80_columns(cli: Cli) -> None:
    for command in ("generate", "img2img", "inpaint", "style", "upscale", "download", "doctor"):
        page = cli(command, "--help", env={"COLUMNS": "80"}).stdout
        assert max(len(line) for line in page.splitlines()) <= 80, command
        assert not re.search(r"-[a-z0-9]…", page), command  # no option name cut short
        assert "<bool>" not in page and "{" not in page.splitlines()[0]
    page = cli("generate", "--help", env={"COLUMNS": "80"}).stdout
    assert "--offload <auto|none|text|unload|model|sequential>" in page
    assert "--embedding-cache / --no-embedding-cache" in page
    sections = [line for line in page.splitlines() if re.match(r"^[A-Z][a-z ]+:$", line)]
    assert sections.index("Prompt and seed:") < sections.index("Batch and scripting:")


def test_completion_prints_the_shipped_script_and_install_completion_is_gone(cli: Cli) -> None:
    for shell, name in (("bash", "if-cli.bash"), ("zsh", "_if-cli"), ("fish", "if-cli.fish")):
        printed = cli("completion", shell)
        assert printed.stdout == (ROOT / "completions" / name).read_text()
    assert cli("--install-completion").returncode == 2


def test_progress_says_which_image_the_pace_and_the_time_left(cli: Cli, tmp_path: Path) -> None:
    done = cli("generate", "a red circle", *DEMO_DRAFT, "--num-images", "2", "-o", str(tmp_path))
    lines = [line for line in done.stderr.splitlines() if "stage I: step 4/4" in line]
    assert lines and re.search(r"\(image 2 of 2; [\d.]+ steps/s, \d+ s in all\)", lines[0])


def test_files_respect_the_umask(tmp_path: Path) -> None:
    umask, mode = 0o027, 0o640  # neither the usual 022 nor the 0600 of a temporary file
    out = tmp_path / "out"
    done = subprocess.run(
        [str(CLI), "generate", "a red circle", *DEMO_DRAFT, "-o", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": str(tmp_path)},
        preexec_fn=lambda: os.umask(umask),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    files = list(out.iterdir())
    assert len(files) == 2  # the picture and its sidecar
    assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {mode}


def test_an_upscale_is_never_named_like_its_source(
    cli: Cli, tmp_path: Path, demo_picture: Path
) -> None:
    source = demo_picture
    up = cli("upscale", str(source), "--model", "demo", "--stage-2-steps", "2", "-o", str(tmp_path))
    assert up.returncode == 0, up.stderr
    made = Path(up.stdout.strip())
    assert made.name == source.name.replace(".png", "-upscaled-128.png")


def test_a_third_party_reader_reads_the_parameters_chunk(
    cli: Cli, tmp_path: Path, demo_picture: Path
) -> None:
    """sd-parsers (PyPI) reads what A1111-style tools show: the sampler that really ran."""
    from sd_parsers import ParserManager

    png = str(demo_picture)
    info = ParserManager().parse(png)
    assert info is not None and info.generator.name == "AUTOMATIC1111"
    (sampler,) = info.samplers
    assert sampler.name == "DPM++ 2M"  # the demo's DPMSolverMultistepScheduler
    assert [p.value for p in sampler.prompts] == ["a red circle"]
    assert [p.value for p in sampler.negative_prompts] == ["blurry"]
    assert sampler.parameters == {"cfg_scale": "7.0", "seed": "3", "steps": "2"}
    assert sampler.model is not None and sampler.model.name == "IF-I-demo"

    tiny = cli(
        "generate", "a lighthouse", "--stages", "1", "--steps", "2", "-o", str(tmp_path / "if")
    ).stdout.strip()
    assert ParserManager().parse(tiny).samplers[0].name == "DDPM"  # IF's stage I scheduler


def test_a_folder_that_cannot_be_written_suggests_another(cli: Cli) -> None:
    done = cli("generate", "x", "--model", "demo", "-o", "/sys/if-cli-cannot")
    assert done.returncode == 6
    assert "choose a folder you can write to with -o/--out" in done.stderr
