"""``python -m acp_cli``: the same as the ``acp`` command."""

from acp_cli.cli.app import main

main()
