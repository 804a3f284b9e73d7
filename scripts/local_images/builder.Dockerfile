# Compiler image for llama-server: the base's own glibc and gcc, so the binary runs on the base.
ARG BASE
FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build \
 && rm -rf /var/lib/apt/lists/*
