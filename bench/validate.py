"""Validation speed: validate and compile 100 playbooks, against plain ``yaml.safe_load``.

The shipped playbooks are copied under new names until there are 100 (their templates and
health model beside them), then the whole set is checked and compiled the way ``playbook
validate`` and ``playbook publish`` do. The baseline reads the same files with PyYAML's
``safe_load`` (C loader when available) and nothing else: the cost of only parsing.
Goal: under a second for the 100.

    .venv/bin/python -m bench.validate [--playbooks 100] [--rounds 5]
"""

from __future__ import annotations

import argparse
import re
import shutil
import tempfile
import time
from pathlib import Path

import yaml

from bench._results import write
from engine import check

PLAYBOOKS = Path(__file__).parents[1] / "playbooks"


def _book(root: Path, count: int) -> list[Path]:
    """``count`` playbooks in ``root``: the shipped ones, renamed copies for the rest."""
    shutil.copytree(PLAYBOOKS / "templates", root / "templates")
    shutil.copytree(PLAYBOOKS / "models", root / "models")
    shipped = sorted(PLAYBOOKS.glob("*.yaml"))
    written = []
    for i in range(count):
        source = shipped[i % len(shipped)]
        text = source.read_text()
        name = re.search(r"^name: (\S+)$", text, re.MULTILINE)
        assert name, source
        # The first copies keep their names: the others' references (start_playbook,
        # suppresses) name shipped playbooks and must resolve.
        copy = name.group(1) if i < len(shipped) else f"{name.group(1)}-{i}"
        text = text.replace(f"name: {name.group(1)}\n", f"name: {copy}\n", 1)
        path = root / f"{copy}.yaml"
        path.write_text(text)
        written.append(path)
    return written


def _best(rounds: int, work: object) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main(count: int, rounds: int) -> None:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = _book(root, count)

        def parse_only() -> None:
            for path in [*files, *root.glob("templates/*.yaml"), *root.glob("models/*.yaml")]:
                yaml.load(path.read_text(), Loader=loader)

        def validate_and_compile() -> None:
            result, diagnostics = check([root])
            assert not diagnostics, diagnostics[:3]
            plans = result.plans()
            assert len(plans) == count, len(plans)

        validate_and_compile()  # imports and caches warm, as in a long-lived process
        baseline = _best(rounds, parse_only)
        engine = _best(rounds, validate_and_compile)
    ratio = engine / baseline
    lines = [
        f"{count} playbooks (+ {len(list(PLAYBOOKS.glob('templates/*.yaml')))} templates, "
        f"1 health model), best of {rounds} rounds:",
        "",
        "| what | time | per playbook |",
        "| --- | --- | --- |",
        f"| baseline: `yaml.safe_load` of the same files | {baseline * 1000:.0f} ms | "
        f"{baseline / count * 1000:.2f} ms |",
        f"| engine: validate and compile (`check` + plans) | {engine * 1000:.0f} ms | "
        f"{engine / count * 1000:.2f} ms |",
        "",
        f"Ratio engine/baseline: **{ratio:.1f}x**. Goal under 1 s for 100 playbooks: "
        f"**{'met' if engine < 1 else 'missed'}** ({engine:.2f} s).",
    ]
    print("\n".join(lines))
    write("validate", "Validation speed", "\n".join(lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--playbooks", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    main(arguments.playbooks, arguments.rounds)
