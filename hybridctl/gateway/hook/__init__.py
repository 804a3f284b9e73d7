"""The gateway's LiteLLM hook: routing policy, keys, spend, health (stdlib and litellm only)."""
