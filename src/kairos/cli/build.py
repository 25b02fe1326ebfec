"""`kairos compile`: the decision path's modules compiled by mypyc (`kairos.compiled`)."""

from __future__ import annotations

import typer

from kairos import compiled
from kairos.cli.common import console


def compile_modules(
    force: bool = typer.Option(False, help="Compile even when the build is up to date"),
) -> None:
    """Compile the decision path's Python modules with mypyc into the virtualenv (about a
    minute; quick when they are built from the sources as they are). The server uses them in
    place of the source while that is unchanged; KAIROS_COMPILED=false runs the source."""
    built = compiled.build(force=force)
    state = "compiled" if built else "up to date"
    console.print(f"{len(compiled.MODULES)} modules {state} in {compiled.DIRECTORY}")
