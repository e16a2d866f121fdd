from decimal import Decimal as D

from projections.margin_status import status_text, worst
from projections.rollup import margin_status


def test_a_contract_takes_its_worst_assignment_colour() -> None:
    # DESIGN's worked example after the raise: margin -0.90/h, markup 17.1875 % (floor 15).
    red = margin_status(D("-0.90"), D("17.1875"), D("15"))
    amber = margin_status(D("1.50"), D("14.99"), D("15"))
    green = margin_status(D("1.50"), D("25"), D("25"))
    assert (red, amber, green) == ("red", "amber", "green")
    assert worst([green, red, amber]) == "red"
    assert worst([green, amber]) == "amber"
    assert worst([]) == "green"
    assert "loses money" in status_text("red")
    assert "floor" in status_text("amber")
