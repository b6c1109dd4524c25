"""The ``p2pdb`` command line (DESIGN.md §7)."""

from __future__ import annotations

import click

from p2pdb import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="p2pdb")
def main() -> None:
    """P2PDB: a peer-to-peer SQL database that speaks MySQL."""
