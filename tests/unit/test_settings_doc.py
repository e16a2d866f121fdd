"""docs/configuration.md is the Settings class, written out: it cannot go stale."""

from __future__ import annotations

from pathlib import Path

from services.settings import Settings
from services.settings_doc import page, settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_the_committed_page_is_what_the_settings_class_says() -> None:
    assert DOC.read_text() == page(), "run: python -m services.settings_doc > docs/configuration.md"


def test_every_setting_is_on_the_page_with_a_word_on_what_it_does() -> None:
    documented = {s.variable for s in settings()}
    aliases = {
        str(f.validation_alias.choices[0])  # type: ignore[union-attr]
        for f in Settings.model_fields.values()
        if f.validation_alias is not None
    }
    assert documented == aliases
    assert all(s.why for s in settings())
