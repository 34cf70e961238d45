"""Allow ``python -m incidents`` as well as the ``incidents`` command."""

from incidents.cli import main

main()
