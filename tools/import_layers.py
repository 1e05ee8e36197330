"""Count the import layers from pages/ down to the utilities, and fail if there are more than 6.

Every module of ``rrs`` and ``dashboard`` is placed in the layer that the import-linter ``layers`` contract in
pyproject.toml names for it (the longest matching name wins); the Streamlit pages (``pages/*.py``, not a
package) sit in the top layer with ``dashboard``. The import graph comes from grimp (installed with
import-linter). The script then checks that

* every module has a layer,
* no import points from a lower layer to a higher one, and
* the longest chain of layers that imports actually pass through, from the pages down, is at most
  ``--max`` (default 6) layers long.

Usage: ``python tools/import_layers.py [--max N]``. Prints the floors and the longest chain.
"""

from __future__ import annotations

import argparse
import ast
import sys
import tomllib
from functools import cache
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
LAYER_NAMES = ("UI", "entry points", "methods", "representation work", "inputs", "utilities")


def contract_layers(pyproject: Path) -> list[list[str]]:
    """The module names of each layer of the first ``layers`` contract, top first."""
    config = tomllib.loads(pyproject.read_text())["tool"]["importlinter"]
    contract = next(c for c in config["contracts"] if c["type"] == "layers")
    return [[name.strip(" ()") for name in layer.replace("|", ":").split(":")] for layer in contract["layers"]]


def layer_of(module: str, layers: list[list[str]]) -> int | None:
    """Index of the layer whose longest name is ``module`` or a package above it."""
    best: tuple[int, int] | None = None
    for index, names in enumerate(layers):
        for name in names:
            if module == name or module.startswith(name + "."):
                if best is None or len(name) > best[1]:
                    best = (index, len(name))
    return None if best is None else best[0]


def page_imports(pages: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    """``{"pages.<name>": {imported project module, ...}}`` from each page's import statements."""
    out: dict[str, set[str]] = {}
    for path in sorted(pages.glob("*.py")):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            found.update(n for n in names if n.split(".")[0] in packages)
        out[f"pages.{path.stem}"] = found
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max", type=int, default=6, help="most layers allowed (default 6)")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    layers = contract_layers(ROOT / "pyproject.toml")
    packages = ("rrs", "dashboard")
    graph = grimp.build_graph(*packages, cache_dir=None)
    modules = set(graph.modules)
    edges = {(m, i) for m in modules for i in graph.find_modules_directly_imported_by(m) if i in modules}
    for page, imported in page_imports(ROOT / "pages", packages).items():
        edges |= {(page, i) for i in imported if i in modules}
        modules.add(page)

    def layer(module: str) -> int | None:
        return 0 if module.startswith("pages.") else layer_of(module, layers)

    problems = [f"{m}: in no layer of pyproject.toml's layers contract" for m in sorted(modules)
                if layer(m) is None and m not in packages]
    below: dict[int, set[int]] = {i: set() for i in range(len(layers))}
    for importer, imported in sorted(edges):
        a, b = layer(importer), layer(imported)
        if a is None or b is None or a == b:
            continue
        if b < a:
            problems.append(f"{importer} imports {imported}, a layer above it")
        else:
            below[a].add(b)

    @cache
    def chain(index: int) -> tuple[int, ...]:
        return (index, *max((chain(j) for j in below[index]), key=len, default=()))

    longest = chain(0)
    for index, names in enumerate(layers):
        label = LAYER_NAMES[index] if index < len(LAYER_NAMES) else f"layer {index + 1}"
        extra = ", pages/*" if index == 0 else ""
        print(f"{index + 1}. {label}: {', '.join(names)}{extra}")
    print(f"longest chain from pages/: {len(longest)} layers ({' > '.join(str(i + 1) for i in longest)})")
    if len(longest) > args.max:
        problems.append(f"{len(longest)} layers from pages/ down; at most {args.max} allowed")
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
