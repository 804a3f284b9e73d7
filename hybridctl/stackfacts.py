"""The stack's facts that the renderer writes and deploy, ops and the clouds rely on."""

from __future__ import annotations

# LiteLLM's liveness route: answers without a key, through the proxy and to a balancer.
GATEWAY_HEALTH_PATH = "/health/liveliness"

# Services that run once and exit (0 when done), unlike the servers that keep running.
MODEL_DOWNLOADER = "models-init"
ONE_SHOT_SERVICES = (MODEL_DOWNLOADER, "models-warm", "ollama-import")

# The proxy's own certificate authority (Caddy's internal issuer), inside the proxy container.
CADDY_ROOT_CA = "/data/caddy/pki/authorities/local/root.crt"
# That CA's copy beside a deployment's record, which clients verify the box against.
CA_FILE = "ca.crt"

# The admin user a cloud box's cloud-init creates, and deploy and ops log in as over SSH.
ADMIN_USER = "hybridctl"

# Where a cloud box keeps its bundle, and the compose project it runs as (the file's `name:`).
BUNDLE_DIR_ON_HOST = "/opt/hybridctl"
ON_BOX_PROJECT = "hybridctl"

# The bundle's layout: the gateway's folder, the hook package in it, the model server's presets.
ROUTER_DIR = "router"
HOOK_PACKAGE = "hybrid_hook"
MODELS_INI = "llm/models.ini"
