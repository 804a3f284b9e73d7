#!/usr/bin/env bash
# Smoke test of the stand-in images scripts/local_images.sh built: starts each on a private Docker
# network (nothing published) and checks what the rendered compose file relies on:
#   llm         router mode (--models-preset, load-on-startup): /health, /v1/models, a chat reply
#   gateway     LiteLLM's proxy routes a chat request to the llm; python3 runs the health check
#   redis       the compose file's entrypoint/command as user 999:1000; redis-cli ping
#   prometheus  /-/healthy and /api/v1/targets
#   proxy       caddy runs a Caddyfile; the admin API answers (the health check)
#   curl        curl and sha256sum, as the one-shot scripts use them
# Containers, network and temp files are removed at the end.
#
# Usage: scripts/local_images/smoke_test.sh IMAGES_YAML MODEL_GGUF
#   MODEL_GGUF: any small llama.cpp model, e.g. one hybridctl.testing.modelgen.write_tiny_model wrote.
set -euo pipefail

images_file=${1:?usage: $0 IMAGES_YAML MODEL_GGUF}
model=${2:?usage: $0 IMAGES_YAML MODEL_GGUF}
model=$(cd "$(dirname "$model")" && pwd)/$(basename "$model")

image() { sed -n "s/^$1: \"\(.*\)\"$/\1/p" "$images_file"; }
LLM=$(image llm) GATEWAY=$(image gateway) REDIS=$(image redis)
PROMETHEUS=$(image prometheus) PROXY=$(image proxy) CURL=$(image curl)
for v in LLM GATEWAY REDIS PROMETHEUS PROXY CURL; do
  [ -n "${!v}" ] || { echo "no image for $v in $images_file" >&2; exit 1; }
done

id=smoke-$$
net=hybridctl-$id
work=$(mktemp -d)
cleanup() {
  docker rm -f "$id-llm" "$id-gateway" "$id-redis" "$id-prometheus" "$id-proxy" >/dev/null 2>&1 || true
  docker network rm "$net" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
say() { printf '[smoke] %s\n' "$*" >&2; }
# wait_for CONTAINER SECONDS COMMAND...: runs COMMAND in CONTAINER until it succeeds.
wait_for() {
  local c=$1 n=$2 i
  shift 2
  for i in $(seq "$n"); do
    docker exec "$c" "$@" >/dev/null 2>&1 && return 0
    sleep 1
  done
  docker logs "$c" 2>&1 | tail -n 30 >&2
  say "FAIL: $c: $* did not succeed in ${n}s"
  exit 1
}

docker network create --internal "$net" >/dev/null
mkdir -p "$work/models" "$work/router"
cp "$model" "$work/models/tiny.gguf"
chmod -R a+rX "$work"
cat >"$work/models.ini" <<'EOF'
version = 1
[*]
ctx-size = 512
parallel = 1
metrics = true
no-repack = true
[tiny]
model = /models/tiny.gguf
load-on-startup = true
EOF

say "llm: $LLM"
docker run -d --name "$id-llm" --network "$net" --network-alias llm \
  -v "$work/models:/models:ro" -v "$work/models.ini:/config/models.ini:ro" "$LLM" \
  --models-preset /config/models.ini --models-max 1 --host 0.0.0.0 --port 8080 >/dev/null
wait_for "$id-llm" 120 curl -fsS http://127.0.0.1:8080/health
wait_for "$id-llm" 120 sh -c \
  'curl -fsS http://127.0.0.1:8080/v1/models | grep -q "\"id\":\"tiny\"" &&
   curl -fsS -H "Content-Type: application/json" http://127.0.0.1:8080/v1/chat/completions \
     -d "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}],\"max_tokens\":8}" |
   grep -q chat.completion'
say "llm: router mode serves model tiny (health, /v1/models, chat)"

say "redis: $REDIS"
docker run -d --name "$id-redis" --network "$net" --user 999:1000 \
  -e REDIS_PASSWORD=smoke-pass -e REDISCLI_AUTH=smoke-pass --entrypoint /bin/sh "$REDIS" -c \
  'umask 077 && printf '\''requirepass "%s"\nmaxmemory 64mb\ndir /data\n'\'' "$REDIS_PASSWORD" > /tmp/redis.conf && exec redis-server /tmp/redis.conf' \
  >/dev/null
wait_for "$id-redis" 30 sh -c 'redis-cli ping | grep -q PONG'
say "redis: answers PONG as 999:1000 with a password"

say "gateway: $GATEWAY"
cat >"$work/router/litellm_config.yaml" <<'EOF'
model_list:
  - model_name: "local"
    litellm_params:
      model: "openai/tiny"
      api_base: "http://llm:8080/v1"
      api_key: "no-key-needed"
litellm_settings:
  telemetry: false
general_settings:
  master_key: "os.environ/LITELLM_MASTER_KEY"
EOF
chmod -R a+rX "$work/router"
docker run -d --name "$id-gateway" --network "$net" -e LITELLM_MASTER_KEY=sk-smoke \
  -v "$work/router:/app/router:ro" "$GATEWAY" \
  --config /app/router/litellm_config.yaml --port 4000 >/dev/null
wait_for "$id-gateway" 180 python3 -c \
  "import urllib.request; urllib.request.urlopen('http://127.0.0.1:4000/health/liveliness', timeout=5)"
docker exec "$id-gateway" python3 -c '
import json, urllib.request
req = urllib.request.Request(
    "http://127.0.0.1:4000/v1/chat/completions",
    data=json.dumps({"model": "local", "max_tokens": 8,
                     "messages": [{"role": "user", "content": "hello"}]}).encode(),
    headers={"Authorization": "Bearer sk-smoke", "Content-Type": "application/json"})
reply = json.load(urllib.request.urlopen(req, timeout=60))
assert reply["choices"][0]["message"] is not None, reply
' || { docker logs "$id-gateway" 2>&1 | tail -n 30 >&2; say "FAIL: gateway chat"; exit 1; }
say "gateway: healthy; routes a chat request to the llm"

say "prometheus: $PROMETHEUS"
printf 'global:\n  scrape_interval: 5s\nscrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ["localhost:9090"]\n' \
  >"$work/prometheus.yml"
chmod a+r "$work/prometheus.yml"
docker run -d --name "$id-prometheus" --network "$net" \
  -v "$work/prometheus.yml:/etc/prometheus/prometheus.yml:ro" "$PROMETHEUS" \
  --config.file=/etc/prometheus/prometheus.yml --storage.tsdb.path=/prometheus \
  --storage.tsdb.retention.time=15d --storage.tsdb.retention.size=2GB >/dev/null
wait_for "$id-prometheus" 60 wget -q -O /dev/null http://127.0.0.1:9090/-/healthy
wait_for "$id-prometheus" 30 sh -c \
  'wget -q -O - http://127.0.0.1:9090/api/v1/targets | grep -q "\"status\":\"success\""'
say "prometheus: healthy; API answers"

say "proxy: $PROXY"
printf ':8080 {\n\trespond "ok"\n}\n' >"$work/Caddyfile"
chmod a+r "$work/Caddyfile"
docker run -d --name "$id-proxy" --network "$net" \
  -v "$work/Caddyfile:/etc/caddy/Caddyfile:ro" "$PROXY" >/dev/null
wait_for "$id-proxy" 30 wget -q -O /dev/null http://127.0.0.1:2019/config/
wait_for "$id-proxy" 30 sh -c 'wget -q -O - http://127.0.0.1:8080/ | grep -q ok'
say "proxy: caddy serves the Caddyfile; admin API answers"

say "curl: $CURL"
docker run --rm "$CURL" --version >/dev/null
docker run --rm --user 0:0 --entrypoint /bin/sh "$CURL" -c \
  'echo x | sha256sum >/dev/null && curl --version >/dev/null'
say "curl: curl and sha256sum run"

say "all stand-ins passed"
