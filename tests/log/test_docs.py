"""The Python examples in ``docs/log.md`` run, and their asserts hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "log.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks() -> list[str]:
    return BLOCK.findall(GUIDE.read_text(encoding="utf-8"))


def test_the_guide_has_an_example() -> None:
    blocks = python_blocks()
    assert blocks, f"no ```python block in {GUIDE}"
    assert any("assert" in block for block in blocks)


def test_the_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # whatever an example writes stays in a temporary directory
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for number, source in enumerate(python_blocks(), start=1):
        code = compile(source, f"{GUIDE.name} (python block {number})", "exec")
        exec(code, namespace)
