"""The console script's entry point: a Ctrl-C while the CLI's modules are still importing (Rich,
Typer: a few hundred milliseconds) says 'interrupted' and exits 130, as one later does, instead of
a KeyboardInterrupt traceback from the import."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from pertitle.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    cli_main()
