"""`python -m hybridctl.bench`: the standalone bench's entry point."""

from .cli import main

raise SystemExit(main())
