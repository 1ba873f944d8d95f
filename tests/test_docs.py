"""The README stays true: its exit codes and test command are the code's."""

from __future__ import annotations

import re
from pathlib import Path

from if_cli.errors import EXIT_CODES

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_readme_exit_code_table_matches_the_errors_module() -> None:
    section = README.split("## Exit codes", 1)[1].split("##", 1)[0]
    rows = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", section, flags=re.MULTILINE))
    assert {int(code): text for code, text in rows.items()} == EXIT_CODES


def test_ci_runs_exactly_the_readme_test_command() -> None:
    development = README.split("## Development", 1)[1]
    commands = re.search(r"```sh\n(.*?)```", development, flags=re.DOTALL)
    assert commands is not None
    test_command = commands.group(1).strip().splitlines()[-1]
    assert test_command == "python -m pytest"
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines


def _anchors(text: str) -> set[str]:
    """GitHub's anchors for a Markdown file's headings."""
    titles = re.findall(r"(?m)^#+ (.*)$", text)
    return {re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-") for title in titles}


def test_every_link_of_the_readme_and_docs_reaches_a_file_and_heading() -> None:
    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for link in re.findall(r"\]\(([^)]+)\)", page.read_text()):
            if link.startswith(("http://", "https://")):
                continue
            path, _, anchor = link.partition("#")
            target = (page.parent / path).resolve() if path else page
            if not target.exists():
                broken.append(f"{page.name}: {link}")
            elif anchor and target.suffix == ".md" and anchor not in _anchors(target.read_text()):
                broken.append(f"{page.name}: {link} (no such heading)")
    assert broken == []
