"""LiteLLM's callback on the box: the hook made from the policy the renderer wrote beside it."""

from __future__ import annotations

from .router import HybridRouter

# litellm_config.yaml's litellm_settings.callbacks: hybrid_hook.proxy.proxy_handler_instance
proxy_handler_instance = HybridRouter()
