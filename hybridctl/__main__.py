"""Entry point for `python -m hybridctl`."""

from hybridctl.cli.app import main

main()
