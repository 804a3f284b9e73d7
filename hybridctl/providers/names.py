"""The providers' names, in display order: the registry's one list, importable for nothing more.

Each name is a module or package under hybridctl/providers/ that exports its record under the
name in capitals (`hetzner` → `HETZNER`). Planning needs only the names, so it imports this
module and not the registry.
"""

CLOUDS: tuple[str, ...] = ("hetzner", "aws", "gcp")
LOCAL = "local"
DEFAULT_CLOUD = "hetzner"
"""Where `render` and `deploy` aim when no --provider is given (the cheapest CPU tiers)."""
