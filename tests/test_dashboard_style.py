"""Colours: every method its own, never a harmful/benign/selected colour; page icons need no emoji font."""

from __future__ import annotations

from pathlib import Path

from dashboard.eval_view import method_colors
from dashboard.style import LABEL_COLORS, SELECTED_COLOR
from rrs.compare import ALL_METHODS

ROOT = Path(__file__).resolve().parent.parent


def test_each_method_has_its_own_colour():
    colors = method_colors([*ALL_METHODS, "rrs-m51", "my-method"])
    assert len({colors[m] for m in ALL_METHODS}) == len(ALL_METHODS)
    assert colors["rrs+sarsteer"] != colors["rrs"] and colors["rrs-m51"] == colors["rrs"]
    reserved = {*LABEL_COLORS.values(), SELECTED_COLOR}
    assert not set(colors.values()) & reserved


def test_page_icons_are_material_symbols():
    sources = [ROOT / "dashboard" / "app.py", ROOT / "dashboard" / "widgets.py", *sorted((ROOT / "pages").glob("*.py"))]
    for source in sources:
        text = source.read_text()
        for chunk in text.split("icon=")[1:]:
            value = chunk.split(")", 1)[0].split(",", 1)[0].strip().strip('"')
            assert value.startswith(":material/"), (source.name, value)
