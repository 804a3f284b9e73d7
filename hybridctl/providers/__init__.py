"""Where boxes run: one package per cloud, the registry that lists them, and what they share."""
