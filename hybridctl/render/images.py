"""The container images the rendered stack runs, each pinned to a release tag."""

from __future__ import annotations

# Tags, never `latest`: a re-render or a reboot must not change what runs. Bump them on purpose.
LLAMA_CPP_BUILD = "b8840"  # router mode (--models-preset, load-on-startup) needs b7500 or later
LLAMA_CPP_CPU = f"ghcr.io/ggml-org/llama.cpp:server-{LLAMA_CPP_BUILD}"
LLAMA_CPP_CUDA = f"ghcr.io/ggml-org/llama.cpp:server-cuda-{LLAMA_CPP_BUILD}"
OLLAMA = "ollama/ollama:0.11.4"
# The version the gateway end-to-end test runs the rendered router config with (pip litellm).
LITELLM = "ghcr.io/berriai/litellm:v1.103.7"
REDIS = "redis:7.4.6-alpine"  # 7.4.6 fixes CVE-2025-49844 (Lua use-after-free)
PROMETHEUS = "prom/prometheus:v3.5.0"
GRAFANA = "grafana/grafana:12.1.1"
CADDY = "caddy:2.10.2-alpine"
CURL = "curlimages/curl:8.15.0"

# bitnet.cpp ships no image: the bundle builds microsoft/BitNet's llama-server at this commit.
BITNET_REPO = "https://github.com/microsoft/BitNet.git"
# The commit whose setup_env.py the bundle's Dockerfile follows (codegen + cmake flags).
BITNET_COMMIT = "02969437e7d5b2458ab194c08f728bb90e14e6f3"
BITNET_BASE = "ubuntu:24.04"
BITNET_IMAGE = f"hybridctl/bitnet-server:{BITNET_COMMIT[:12]}"
