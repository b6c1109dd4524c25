"""Every command, option and configuration key is documented (a missing line fails here)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from p2pdb.cli import main
from p2pdb.config import Config

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_cli_command_and_option_is_documented() -> None:
    text = (DOCS / "cli.md").read_text()
    assert isinstance(main, click.Group)
    for name, command in main.commands.items():
        assert f"`p2pdb {name}" in text, f"command {name} is not in docs/cli.md"
        for param in command.params:
            if isinstance(param, click.Option) and name == "start":
                flag = max(param.opts, key=len)
                if flag != "--data-dir":
                    assert f"`{flag}" in text, f"option {flag} of p2pdb {name} is not in docs/cli.md"


def test_every_configuration_key_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text()
    for item in dataclasses.fields(Config):
        assert f"`{item.name}`" in text, f"configuration key {item.name} is not in docs/configuration.md"
