"""This machine: the rendered stack under Docker Compose, for trying hybridctl and for tests."""

from hybridctl.providers.base import Provider

LOCAL = Provider("local", "this machine", "Docker Engine with the Compose v2 plugin")
