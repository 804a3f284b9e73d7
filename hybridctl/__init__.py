"""hybridctl: size, deploy and prove a self-hosted hybrid LLM server."""

__version__ = "0.1.0"
