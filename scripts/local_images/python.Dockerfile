# Debian's python3 with venv: the gateway's build stage, and where its wheelhouse is resolved
# (so environment markers are those of the image's python, not the host's).
ARG BASE
FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
