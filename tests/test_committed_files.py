"""Committed files carry no absolute path of the machine they were made on."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# An absolute path into a machine's own directories, as a path (not inside a word or URL).
MACHINE_PATH = re.compile(r"(?<![\w.~/-])/(?:work|home|root|Users|tmp|private|mnt|scratch)/[\w.-]")
TEXT_SUFFIXES = {".md", ".json", ".py", ".toml", ".yaml", ".yml", ".txt", ".cfg", ""}


def _committed_text_files() -> list[Path]:
    try:
        listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / name for name in listed.splitlines()
            if Path(name).suffix in TEXT_SUFFIXES and not name.startswith("tests/")]


def test_no_committed_file_names_an_absolute_machine_path():
    offenders = []
    for path in _committed_text_files():
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if MACHINE_PATH.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert offenders == []


@pytest.mark.parametrize(("line", "hit"), [
    ("- Data: source idx:/work/shared/data/mnist", True),
    ("--data /home/me/mnist", True),
    ("see https://example.org/work/x", False),
    ("../shared/data/mnist", False),
])
def test_the_path_pattern_finds_machine_paths_only(line, hit):
    assert bool(MACHINE_PATH.search(line)) is hit
