"""The README's five-minute tour, run as written: its shell blocks in one bash session, in an empty
directory, with real nodes and the mariadb client; the output must be the README's text blocks."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def tour() -> tuple[str, str]:
    """The tour's commands (every ```sh block) and its expected output (every ```text block)."""
    text = README.read_text()
    match = re.search(r"<!-- tour -->(.*?)<!-- /tour -->", text, re.S)
    assert match is not None, "README.md has no tour"
    blocks = re.findall(r"```(sh|text)\n(.*?)```", match.group(1), re.S)
    script = "".join(body for kind, body in blocks if kind == "sh")
    output = "".join(body for kind, body in blocks if kind == "text")
    return script, output


@pytest.mark.skipif(
    shutil.which("mariadb") is None and not os.environ.get("CI"),
    reason="the mariadb client is not installed (scripts/test installs it; in CI a missing one fails)",
)
def test_the_readme_tour_runs_and_prints_what_it_says(tmp_path: Path) -> None:
    script, expected = tour()
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])  # p2pdb
    process = subprocess.Popen(
        ["bash", "-c", "set -e\n" + script], cwd=tmp_path, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        out, err = process.communicate(timeout=120)
    finally:
        with contextlib.suppress(
            ProcessLookupError
        ):  # the nodes it started, if it stopped before killing them
            os.killpg(process.pid, signal.SIGTERM)
    logs = "\n".join(p.read_text()[-2000:] for p in tmp_path.glob("tour-*.log"))
    assert process.returncode == 0, f"{err}\n{logs}"
    assert out == expected, f"{err}\n{logs}"
