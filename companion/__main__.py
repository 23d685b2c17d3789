"""``python -m companion`` runs the command line, like the ``companion`` script."""

from companion.cli import main

main(prog_name="companion")
