from decimal import Decimal as D

from projections.margin_status import assignment_status, status_text, worst


def test_red_beats_amber_beats_green() -> None:
    # DESIGN's worked example after the raise: margin -0.90/h, markup 17.1875 % (floor 15).
    assert assignment_status(D("-0.90"), D("17.1875"), D("15")) == "red"
    assert assignment_status(D("1.50"), D("14.99"), D("15")) == "amber"
    assert assignment_status(D("1.50"), D("25"), D("25")) == "green"
    assert worst(["green", "red", "amber"]) == "red"
    assert worst(["green", "amber"]) == "amber"
    assert worst([]) == "green"
    assert "loses money" in status_text("red")
