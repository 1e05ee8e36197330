"""tools/import_layers.py: at most 6 import layers from pages/ down to the utilities, none pointing upward."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tool_module import load_tool

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tools" / "import_layers.py"


def _tool():
    return load_tool("import_layers")


def test_the_tree_has_at_most_six_layers_and_no_upward_import():
    out = subprocess.run([sys.executable, str(SCRIPT)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "longest chain from pages/:" in out.stdout


def test_layer_lookup_takes_the_longest_matching_name():
    tool = _tool()
    layers = [["dashboard"], ["rrs.embedded"], ["rrs.models"], ["rrs.models.embedded.x"]]
    assert tool.layer_of("rrs.models.embedded.assemble", layers) == 2
    assert tool.layer_of("rrs.models.embedded.x.y", layers) == 3
    assert tool.layer_of("rrs.embedded.adapt", layers) == 1
    assert tool.layer_of("rrs.embeddedness", layers) is None


def test_a_stricter_limit_fails():
    out = subprocess.run([sys.executable, str(SCRIPT), "--max", "3"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 1 and "at most 3 allowed" in out.stderr
