"""What the package installs: every file tracker reads at run time is in the wheel, not only in a checkout (the
Docker image installs with `pip install .` and removes the sources)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_file_under_tracker_is_listed_in_the_package_data() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "tracker"
    ]
    package = ROOT / "tracker"
    files = [p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    left_out = [
        str(p.relative_to(package))
        for p in files
        if not any(p.relative_to(package).match(pattern.removeprefix("**/")) for pattern in patterns)
    ]
    assert any(p.suffix == ".typ" for p in files)  # the order's template, among what is checked
    assert left_out == []
