"""Every data file the code reads at run time is declared in pyproject.toml's package-data, so
that an install from a wheel (the Docker image's `pip install .`) has it, not only a checkout."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("events", "imports", "projections", "services", "writemodel")


def test_every_data_file_of_the_packages_is_declared_as_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = config["tool"]["setuptools"]["package-data"]
    data_files = [
        path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*")
        if path.is_file() and path.suffix not in {".py", ".pyc"} and "__pycache__" not in path.parts
    ]
    assert data_files, "no data files found: the test looks in the wrong place"
    missing = [
        str(path.relative_to(ROOT))
        for path in data_files
        if not any(
            fnmatch.fnmatch(str(path.relative_to(ROOT / package)), pattern)
            for package, patterns in declared.items()
            if path.is_relative_to(ROOT / package)
            for pattern in patterns
        )
    ]
    assert missing == []
