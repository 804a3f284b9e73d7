# Stand-in for ghcr.io/ggml-org/llama.cpp:server: llama-server (router mode) at /app, curl for
# the health check, libgomp for ggml's OpenMP threads.
ARG BASE
FROM ${BASE}
ARG LLAMA_CPP_COMMIT=unknown
LABEL org.hybridctl.llama-cpp-commit=${LLAMA_CPP_COMMIT}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates curl libgomp1 \
 && rm -rf /var/lib/apt/lists/*
COPY llama-server /app/llama-server
WORKDIR /app
ENV LLAMA_ARG_HOST=0.0.0.0
HEALTHCHECK CMD ["curl", "-f", "http://localhost:8080/health"]
ENTRYPOINT ["/app/llama-server"]
