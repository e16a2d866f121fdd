"""The command line of a benchmark whose options are plain numbers or words, none needing a
word of help beyond the docstring: `--phase-s 15` for `phase_s=15`, typed by its default."""

from __future__ import annotations

import argparse


def parse(doc: str | None, **defaults: int | float | str) -> argparse.Namespace:
    """The options given on the command line, each `defaults`' value when absent; `--help`
    shows the docstring's first paragraph."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    for name, default in defaults.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    return parser.parse_args()
