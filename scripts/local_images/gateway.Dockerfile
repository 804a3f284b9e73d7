# Stand-in for ghcr.io/berriai/litellm: LiteLLM's proxy in a venv on Debian's python3, installed
# offline (--no-index) from a wheelhouse the script resolved from PyPI with the same python.
ARG BASE
ARG PYTHON_BUILD
FROM ${PYTHON_BUILD} AS build
COPY wheels /tmp/wheels
COPY requirements.txt /tmp/requirements.txt
RUN python3 -m venv /opt/litellm \
 && /opt/litellm/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheels \
      -r /tmp/requirements.txt \
 && /opt/litellm/bin/pip check

FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 litellm \
 && useradd --system --uid 10001 --gid litellm --home-dir /app --shell /usr/sbin/nologin litellm \
 && mkdir -p /app \
 && chown litellm:litellm /app
COPY --from=build /opt/litellm /opt/litellm
ENV PATH=/opt/litellm/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/app \
    LITELLM_TELEMETRY=False \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    LITELLM_DONT_SHOW_FEEDBACK_BOX=True \
    HF_HUB_OFFLINE=1 \
    DO_NOT_TRACK=1
WORKDIR /app
USER litellm
EXPOSE 4000
ENTRYPOINT ["/opt/litellm/bin/litellm"]
CMD ["--port", "4000"]
