"""The one table layout every benchmark prints (Markdown, so it pastes into docs/BENCHMARKS.md)."""

from __future__ import annotations

import os
from collections.abc import Sequence


def print_table(rows: Sequence[tuple[str, float, str]], header: str) -> None:
    """``rows`` of (measurement, value, unit) under a line that names the machine and ``header``."""
    import torch

    width = max(len(name) for name, _, _ in rows)
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs{header}\n")
    print(f"| {'measurement':<{width}} | {'value':>9} | unit |")
    print(f"|{'-' * (width + 2)}|{'-' * 11}|------|")
    for name, value, unit in rows:
        print(f"| {name:<{width}} | {value:>9.2f} | {unit or 's'} |")
