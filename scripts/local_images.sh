#!/usr/bin/env bash
# Builds, on this machine, stand-in container images for every service of the rendered stack, for
# hosts that reach no image registry (only deb.debian.org and PyPI). Everything starts from a
# debootstrapped Debian bookworm; the recipes are in scripts/local_images/.
#
#   base        debootstrap --variant=minbase bookworm, imported, with bookworm-updates/-security
#   llm         llama-server (router mode) compiled from the llama.cpp that llama-cpp-python's
#               sdist vendors, in a builder container from the base
#   gateway     LiteLLM's proxy (litellm[proxy]) on Debian's python3, from a cached wheelhouse
#   redis       Debian's redis-server, user redis as 999:1000 like the official alpine image
#   proxy       Debian's caddy
#   prometheus  Debian's prometheus
#   curl        Debian's curl
#   grafana     none (no Debian package): null in the images file, meaning "leave it out"
#
# Each tag carries a short hash of its recipe: a changed recipe builds a new image, an unchanged
# one is reused, so a second run takes seconds. Progress goes to stderr; the last line on stdout
# is the absolute path of the images file (.cache/local-images/images.yaml), a YAML mapping of
# service name to image reference; versions.txt beside it records each stand-in's real versions.
#
# Needs root (apt, debootstrap, dockerd). Environment: LOCAL_IMAGES_JOBS (compile jobs, default
# nproc), LOCAL_IMAGES_VERBOSE=1 (show full build logs on stderr). Test the images with
# scripts/local_images/smoke_test.sh.
set -Eeuo pipefail
trap 'log "error: line $LINENO: $BASH_COMMAND failed"' ERR

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RECIPES="$ROOT/scripts/local_images"
CACHE="$ROOT/.cache/local-images"
LOGS="$CACHE/logs"

SUITE="bookworm"
MIRROR="http://deb.debian.org/debian"
KEYRING="/usr/share/keyrings/debian-archive-keyring.gpg"
REPO="hybridctl-local"
LLAMA_CPP_PYTHON_VERSION="0.3.36"
JOBS="${LOCAL_IMAGES_JOBS:-$(nproc)}"
VERBOSE="${LOCAL_IMAGES_VERBOSE:-0}"
# Portable x86-64 (AVX2) kernels, static libraries, no HTTPS/curl model downloads, no web UI
# download (LLAMA_USE_PREBUILT_UI would fetch it from Hugging Face at build time).
LLAMA_CMAKE_ARGS=(
  -G Ninja
  -DCMAKE_BUILD_TYPE=Release
  -DGGML_NATIVE=OFF
  -DLLAMA_CURL=OFF
  -DLLAMA_OPENSSL=OFF
  -DLLAMA_BUILD_SERVER=ON
  -DLLAMA_BUILD_TESTS=OFF
  -DLLAMA_BUILD_EXAMPLES=OFF
  -DLLAMA_BUILD_UI=OFF
  -DLLAMA_USE_PREBUILT_UI=OFF
  -DBUILD_SHARED_LIBS=OFF
)

export DOCKER_BUILDKIT=0
export DEBIAN_FRONTEND=noninteractive

STARTED=$SECONDS
log() { printf '[local-images %4ds] %s\n' "$((SECONDS - STARTED))" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# A 12-hex-digit hash of stdin.
short_hash() { sha256sum | cut -c1-12; }

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# Runs a command with its output in a log file (or on stderr when verbose); on failure shows the
# log's tail.
run_logged() {
  local logfile=$1
  shift
  if [ "$VERBOSE" = 1 ]; then
    "$@" 2>&1 | tee "$logfile" >&2
    return "${PIPESTATUS[0]}"
  fi
  if ! "$@" >"$logfile" 2>&1; then
    tail -n 40 "$logfile" >&2
    log "failed: $* (full log: $logfile)"
    return 1
  fi
}

# --- host tools --------------------------------------------------------------------------------

ensure_host_tools() {
  local missing=()
  command -v docker >/dev/null 2>&1 || missing+=(docker.io)
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  [ -f "$KEYRING" ] || missing+=(debian-archive-keyring)
  command -v python3 >/dev/null 2>&1 || missing+=(python3)
  python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
  command -v flock >/dev/null 2>&1 || missing+=(util-linux)
  if [ "${#missing[@]}" -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "run as root: apt must install ${missing[*]}"
    log "installing ${missing[*]} with apt"
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u) >&2
  fi
  [ "$(id -u)" = 0 ] || die "run as root (debootstrap and docker need it)"
}

ensure_dockerd() {
  docker info >/dev/null 2>&1 && return 0
  log "dockerd is not answering; starting it (log: $CACHE/dockerd.log)"
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl start docker >&2 || true
  fi
  if ! docker info >/dev/null 2>&1; then
    # 9>&-: the engine outlives this run and must not keep holding the build lock.
    setsid dockerd >"$CACHE/dockerd.log" 2>&1 </dev/null 9>&- &
  fi
  local i
  for i in $(seq 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  tail -n 20 "$CACHE/dockerd.log" >&2 || true
  die "dockerd did not start"
}

# --- building ----------------------------------------------------------------------------------

NET_ARGS=()
NET_PROBED=0
# Whether a container on the default bridge reaches the Debian mirror; if not, builds use the
# host's network.
probe_network() {
  [ "$NET_PROBED" = 1 ] && return 0
  NET_PROBED=1
  local probe='exec 3<>/dev/tcp/deb.debian.org/80'
  if docker run --rm "$1" timeout 20 bash -c "$probe" >/dev/null 2>&1; then
    log "containers reach deb.debian.org over the default bridge"
  elif docker run --rm --network host "$1" timeout 20 bash -c "$probe" >/dev/null 2>&1; then
    log "the default bridge does not reach deb.debian.org; building with --network host"
    NET_ARGS=(--network host)
  else
    die "no container reaches deb.debian.org, not even on the host's network"
  fi
}

# build_image NAME TAG DOCKERFILE [PATH[=NAME]...] -- [docker build args...]: builds TAG from the
# recipe DOCKERFILE with the paths listed copied (as NAME) into a fresh context under the cache.
build_image() {
  local name=$1 tag=$2 dockerfile=$3
  shift 3
  local ctx="$CACHE/ctx/$name"
  rm -rf "$ctx"
  mkdir -p "$ctx"
  cp "$dockerfile" "$ctx/Dockerfile"
  local src dest
  while [ "$#" -gt 0 ] && [ "$1" != -- ]; do
    src=${1%%=*} dest=$(basename "$1")
    [ "$src" = "$1" ] || dest=${1#*=}
    cp -al "$src" "$ctx/$dest" 2>/dev/null || cp -a "$src" "$ctx/$dest"
    shift
  done
  [ "$#" -gt 0 ] && shift
  probe_network "$BASE_PROBE_IMAGE"
  log "building $tag"
  run_logged "$LOGS/$name.log" docker build --force-rm "${NET_ARGS[@]}" \
    --label "org.hybridctl.local-images.recipe=$tag" -t "$tag" "$@" "$ctx"
  rm -rf "$ctx"
}

# --- base --------------------------------------------------------------------------------------

BASE_HASH="$(
  {
    echo "debootstrap --variant=minbase $SUITE $MIRROR"
    cat "$RECIPES/base.Dockerfile" "$RECIPES/base.sources.list" "$RECIPES/policy-rc.d" \
      "$RECIPES/apt-docker.conf"
  } | short_hash
)"
BASE_RAW="$REPO/debian:$SUITE-minbase-$BASE_HASH"
BASE="$REPO/debian:$SUITE-$BASE_HASH"
BASE_PROBE_IMAGE="$BASE"

unmount_under() {
  local dir=$1 mnt
  { findmnt -rn -o TARGET 2>/dev/null || true; } | { grep -F "$dir" || true; } | sort -r |
    while read -r mnt; do
      umount -l "$mnt" || true
    done
}

build_base() {
  image_exists "$BASE" && return 0
  if ! image_exists "$BASE_RAW"; then
    local rootfs="$CACHE/rootfs-$SUITE-$BASE_HASH"
    unmount_under "$rootfs"
    rm -rf "$rootfs"
    log "debootstrap --variant=minbase $SUITE from $MIRROR (log: $LOGS/debootstrap.log)"
    run_logged "$LOGS/debootstrap.log" debootstrap --variant=minbase --keyring="$KEYRING" \
      "$SUITE" "$rootfs" "$MIRROR"
    unmount_under "$rootfs"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
      "$rootfs"/var/log/bootstrap.log "$rootfs"/debootstrap
    log "importing the root file system as $BASE_RAW"
    tar --numeric-owner -C "$rootfs" -c . | docker import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["/bin/bash"]' - "$BASE_RAW" >/dev/null
    rm -rf "$rootfs"
  fi
  BASE_PROBE_IMAGE="$BASE_RAW"
  build_image base "$BASE" "$RECIPES/base.Dockerfile" \
    "$RECIPES/base.sources.list=sources.list" "$RECIPES/policy-rc.d" "$RECIPES/apt-docker.conf" \
    -- --build-arg "BASE_RAW=$BASE_RAW"
  BASE_PROBE_IMAGE="$BASE"
}

# --- llm: llama-server -------------------------------------------------------------------------

BUILDER="$REPO/builder:$SUITE-$({ cat "$RECIPES/builder.Dockerfile"; echo "$BASE"; } | short_hash)"
LLAMA_KEY="$(
  { echo "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION target=llama-server $BUILDER"
    printf '%s\n' "${LLAMA_CMAKE_ARGS[@]}"; } | short_hash
)"
LLAMA_BIN_DIR="$CACHE/llama-server-$LLAMA_CPP_PYTHON_VERSION-$LLAMA_KEY"
LLM="$REPO/llm:llama-cpp-python-$LLAMA_CPP_PYTHON_VERSION-$(
  { cat "$RECIPES/llm.Dockerfile"; echo "$BASE $LLAMA_KEY"; } | short_hash
)"

# The llama.cpp source tree vendored in llama-cpp-python's sdist, downloaded once from PyPI.
llama_source() {
  local src="$CACHE/src/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION"
  if [ ! -f "$src/vendor/llama.cpp/CMakeLists.txt" ]; then
    local sdist="$CACHE/sdist/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz"
    if [ ! -f "$sdist" ]; then
      log "downloading the llama-cpp-python $LLAMA_CPP_PYTHON_VERSION sdist from PyPI"
      run_logged "$LOGS/sdist.log" python3 -m pip download --no-binary :all: --no-deps \
        "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" -d "$CACHE/sdist"
      [ -f "$sdist" ] || die "pip download did not write $sdist"
    fi
    rm -rf "$CACHE/src.tmp"
    mkdir -p "$CACHE/src.tmp" "$CACHE/src"
    tar -C "$CACHE/src.tmp" -xzf "$sdist"
    rm -rf "$src"
    mv "$CACHE/src.tmp/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION" "$src"
    rm -rf "$CACHE/src.tmp"
  fi
  [ -f "$src/vendor/llama.cpp/tools/server/server-models.cpp" ] ||
    die "$src/vendor/llama.cpp has no tools/server/server-models.cpp (no router mode)"
  printf '%s\n' "$src/vendor/llama.cpp"
}

COMPILE_PID=""
COMPILE_CONTAINER="hybridctl-local-llama-compile"
# Starts compiling llama-server in a builder container, in the background (COMPILE_PID); the
# build folder is kept, so an interrupted compile resumes.
start_llama_compile() {
  [ -x "$LLAMA_BIN_DIR/llama-server" ] && return 0
  local src
  src="$(llama_source)"
  image_exists "$BUILDER" || build_image builder "$BUILDER" "$RECIPES/builder.Dockerfile" \
    -- --build-arg "BASE=$BASE"
  local build="$CACHE/llama-build-$LLAMA_KEY"
  mkdir -p "$build" "$LLAMA_BIN_DIR.tmp"
  log "compiling llama-server with $JOBS jobs in $BUILDER (log: $LOGS/llama-server.log)"
  # No network: the build must not download anything (web UI, models).
  docker rm -f "$COMPILE_CONTAINER" >/dev/null 2>&1 || true
  docker run --rm --name "$COMPILE_CONTAINER" --network none \
    -v "$src:/src:ro" -v "$build:/build" -v "$LLAMA_BIN_DIR.tmp:/out" \
    "$BUILDER" bash -euc '
      jobs=$1
      shift
      cmake -S /src -B /build "$@"
      cmake --build /build --target llama-server -j "$jobs"
      cp /build/bin/llama-server /out/llama-server
      strip /out/llama-server
      ldd /out/llama-server >/out/ldd.txt
    ' compile "$JOBS" "${LLAMA_CMAKE_ARGS[@]}" >"$LOGS/llama-server.log" 2>&1 &
  COMPILE_PID=$!
}

finish_llama_compile() {
  [ -n "$COMPILE_PID" ] || return 0
  local status=0 last=""
  while kill -0 "$COMPILE_PID" 2>/dev/null; do
    local now
    now="$(grep -o '^\[[0-9]*/[0-9]*\]' "$LOGS/llama-server.log" 2>/dev/null | tail -n 1 || true)"
    if [ -n "$now" ] && [ "$now" != "$last" ]; then
      log "compiling llama-server: $now"
      last=$now
    fi
    sleep 30
  done
  wait "$COMPILE_PID" || status=$?
  COMPILE_PID=""
  if [ "$status" != 0 ]; then
    tail -n 40 "$LOGS/llama-server.log" >&2
    die "compiling llama-server failed (full log: $LOGS/llama-server.log)"
  fi
  if grep -E 'not found|libllama|libggml|libmtmd' "$LLAMA_BIN_DIR.tmp/ldd.txt" >&2; then
    die "llama-server links libraries the runtime image lacks ($LLAMA_BIN_DIR.tmp/ldd.txt)"
  fi
  llama_commit >"$LLAMA_BIN_DIR.tmp/llama.cpp-commit"
  rm -rf "$LLAMA_BIN_DIR"
  mv "$LLAMA_BIN_DIR.tmp" "$LLAMA_BIN_DIR"
  log "compiled $LLAMA_BIN_DIR/llama-server"
  # The binary is what is kept; the build folder and the unpacked sources go (the sdist stays).
  rm -rf "$CACHE/llama-build-$LLAMA_KEY" "$CACHE/src"
}

# The llama.cpp commit the sdist vendors, from llama-cpp-python's CHANGELOG (the sdist has no
# git metadata, so llama-server --version says "commit unknown").
llama_commit() {
  local changelog="$CACHE/src/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/CHANGELOG.md" commit=""
  if [ -f "$changelog" ]; then
    commit="$(awk -v v="$LLAMA_CPP_PYTHON_VERSION" '
      index($0, "## [" v "]") == 1 { f = 1; next }
      f && /^## \[/ { exit }
      f && match($0, /llama\.cpp@[0-9a-f]+/) { print substr($0, RSTART + 10, RLENGTH - 10); exit }
    ' "$changelog")"
  fi
  echo "${commit:-unknown}"
}

build_llm() {
  image_exists "$LLM" && return 0
  finish_llama_compile
  [ -x "$LLAMA_BIN_DIR/llama-server" ] || die "no compiled llama-server at $LLAMA_BIN_DIR"
  [ -s "$LLAMA_BIN_DIR/llama.cpp-commit" ] || llama_commit >"$LLAMA_BIN_DIR/llama.cpp-commit"
  build_image llm "$LLM" "$RECIPES/llm.Dockerfile" "$LLAMA_BIN_DIR/llama-server" -- \
    --build-arg "BASE=$BASE" --build-arg "LLAMA_CPP_COMMIT=$(cat "$LLAMA_BIN_DIR/llama.cpp-commit")"
}

# --- gateway: LiteLLM proxy --------------------------------------------------------------------

GATEWAY_REQUIREMENTS="$RECIPES/gateway-requirements.txt"
LITELLM_VERSION="$(sed -n 's/^litellm\[proxy\]==\([^ ]*\).*/\1/p' "$GATEWAY_REQUIREMENTS")"
PYTHON_BUILD="$REPO/python-build:$SUITE-$({ cat "$RECIPES/python.Dockerfile"; echo "$BASE"; } | short_hash)"
WHEELS="$CACHE/wheels-$({ cat "$GATEWAY_REQUIREMENTS"; echo "$PYTHON_BUILD"; } | short_hash)"
GATEWAY="$REPO/gateway:litellm-$LITELLM_VERSION-$(
  { cat "$RECIPES/gateway.Dockerfile" "$GATEWAY_REQUIREMENTS"; echo "$BASE $PYTHON_BUILD"; } |
    short_hash
)"

# Resolves the gateway's requirements from PyPI into a wheelhouse with the image's own python3
# (pip evaluates environment markers such as python_full_version with the running interpreter).
# The host's CA bundle goes in, for hosts that reach PyPI through a TLS-inspecting proxy.
build_wheelhouse() {
  [ -f "$WHEELS/.complete" ] && return 0
  image_exists "$PYTHON_BUILD" || build_image python-build "$PYTHON_BUILD" \
    "$RECIPES/python.Dockerfile" -- --build-arg "BASE=$BASE"
  probe_network "$BASE"
  log "resolving the gateway's wheels from PyPI into $WHEELS (log: $LOGS/wheels.log)"
  rm -rf "$WHEELS" "$WHEELS.tmp"
  mkdir -p "$WHEELS.tmp"
  local pip_env=(-e PIP_DISABLE_PIP_VERSION_CHECK=1 -e PIP_DEFAULT_TIMEOUT=120) ca_args=()
  local host_ca=/etc/ssl/certs/ca-certificates.crt var
  if [ -f "$host_ca" ]; then
    ca_args=(-v "$host_ca:/etc/host-ca.crt:ro")
    pip_env+=(-e PIP_CERT=/etc/host-ca.crt)
  fi
  for var in PIP_INDEX_URL HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy; do
    [ -z "${!var:-}" ] || pip_env+=(-e "$var=${!var}")
  done
  run_logged "$LOGS/wheels.log" docker run --rm "${NET_ARGS[@]}" "${pip_env[@]}" "${ca_args[@]}" \
    -v "$GATEWAY_REQUIREMENTS:/requirements.txt:ro" -v "$WHEELS.tmp:/wheels" \
    "$PYTHON_BUILD" sh -euc '
      python3 -m venv /tmp/venv
      /tmp/venv/bin/pip wheel --wheel-dir /wheels -r /requirements.txt
    '
  mv "$WHEELS.tmp" "$WHEELS"
  touch "$WHEELS/.complete"
}

build_gateway() {
  image_exists "$GATEWAY" && return 0
  build_wheelhouse
  build_image gateway "$GATEWAY" "$RECIPES/gateway.Dockerfile" "$WHEELS=wheels" \
    "$GATEWAY_REQUIREMENTS=requirements.txt" -- \
    --build-arg "BASE=$BASE" --build-arg "PYTHON_BUILD=$PYTHON_BUILD"
}

# --- apt-only images ---------------------------------------------------------------------------

apt_image_tag() { # NAME DOCKERFILE [FILE...]
  local name=$1
  shift
  echo "$REPO/$name:$SUITE-$({ cat "$@"; echo "$BASE"; } | short_hash)"
}
REDIS="$(apt_image_tag redis "$RECIPES/redis.Dockerfile")"
PROXY="$(apt_image_tag proxy "$RECIPES/proxy.Dockerfile")"
PROMETHEUS="$(apt_image_tag prometheus "$RECIPES/prometheus.Dockerfile")"
CURL="$(apt_image_tag curl "$RECIPES/curl.Dockerfile" "$RECIPES/curl-entrypoint.sh")"

build_apt_image() { # NAME TAG DOCKERFILE [FILE...]
  local name=$1 tag=$2 dockerfile=$3
  shift 3
  image_exists "$tag" && return 0
  build_image "$name" "$tag" "$dockerfile" "$@" -- --build-arg "BASE=$BASE"
}

# --- versions and the images file --------------------------------------------------------------

# The real software versions in IMAGE (cached per image id).
image_versions() {
  local name=$1 image=$2 id cached
  id="$(docker image inspect --format '{{.Id}}' "$image")"
  cached="$CACHE/versions/${id#sha256:}.txt"
  if [ ! -s "$cached" ]; then
    mkdir -p "$CACHE/versions"
    {
      case "$name" in
        llm)
          echo "llama.cpp vendored in llama-cpp-python $LLAMA_CPP_PYTHON_VERSION (PyPI sdist)," \
            "commit $(docker image inspect --format \
              '{{index .Config.Labels "org.hybridctl.llama-cpp-commit"}}' "$image")" \
            "(per its CHANGELOG)"
          docker run --rm --entrypoint /app/llama-server "$image" --version 2>&1 |
            grep -E '^(version|built with)'
          ;;
        gateway)
          docker run --rm --entrypoint /opt/litellm/bin/python "$image" -c '
import importlib.metadata as m, platform
for d in ("litellm", "prometheus_client", "redis"):
    print(f"{d} {m.version(d)}")
print(f"python {platform.python_version()} (Debian python3)")'
          ;;
        redis) docker run --rm "$image" redis-server --version ;;
        prometheus)
          docker run --rm "$image" --version 2>&1 | head -n 1
          ;;
        proxy) echo "caddy $(docker run --rm "$image" caddy version)" ;;
        curl) docker run --rm "$image" curl --version | head -n 1 ;;
        base) docker run --rm "$image" sh -c 'echo "Debian $(cat /etc/debian_version)"' ;;
      esac
      local packages=""
      case "$name" in
        llm) packages="curl libgomp1" ;;
        gateway) packages="python3" ;;
        redis) packages="redis-server" ;;
        prometheus) packages="prometheus" ;;
        proxy) packages="caddy" ;;
        curl) packages="curl" ;;
      esac
      if [ -n "$packages" ]; then
        # shellcheck disable=SC2086 # a word list
        docker run --rm --entrypoint dpkg-query "$image" -W -f 'Debian package ${Package} ${Version}\n' \
          $packages
      fi
    } >"$cached.tmp"
    mv "$cached.tmp" "$cached"
  fi
  cat "$cached"
}

write_outputs() {
  local versions="$CACHE/versions.txt" images="$CACHE/images.yaml" name image
  {
    echo "# Versions of the stand-in images scripts/local_images.sh built (vs. the pinned images)."
    for name in base llm gateway redis prometheus proxy curl; do
      case "$name" in
        base) image=$BASE pinned="(all stand-ins are built on this)" ;;
        llm) image=$LLM pinned="ghcr.io/ggml-org/llama.cpp:server-b8840" ;;
        gateway) image=$GATEWAY pinned="ghcr.io/berriai/litellm:v1.103.7" ;;
        redis) image=$REDIS pinned="redis:7.4.6-alpine" ;;
        prometheus) image=$PROMETHEUS pinned="prom/prometheus:v3.5.0" ;;
        proxy) image=$PROXY pinned="caddy:2.10.2-alpine" ;;
        curl) image=$CURL pinned="curlimages/curl:8.15.0" ;;
      esac
      echo
      echo "[$name] $image  stands in for: $pinned"
      image_versions "$name" "$image"
    done
    echo
    echo "[grafana] none: no Debian package; the images file maps grafana to null (left out)"
  } >"$versions.tmp"
  mv "$versions.tmp" "$versions"
  {
    echo "# Written by scripts/local_images.sh: stand-in images built on this machine from Debian"
    echo "# $SUITE packages (see versions.txt beside this file). null: leave the service out."
    for name in llm gateway redis prometheus grafana proxy curl; do
      case "$name" in
        llm) image=$LLM ;;
        gateway) image=$GATEWAY ;;
        redis) image=$REDIS ;;
        prometheus) image=$PROMETHEUS ;;
        grafana) image="" ;;
        proxy) image=$PROXY ;;
        curl) image=$CURL ;;
      esac
      if [ -n "$image" ]; then
        echo "$name: \"$image\""
      else
        echo "$name: null"
      fi
    done
    echo "# versions:"
    sed -e '/^#/d' -e 's/^/#   /' -e 's/ *$//' "$versions"
  } >"$images.tmp"
  mv "$images.tmp" "$images"
  log "wrote $images and $versions"
  printf '%s\n' "$images"
}

# --- main --------------------------------------------------------------------------------------

main() {
  mkdir -p "$CACHE" "$LOGS"
  ensure_host_tools
  exec 9>"$CACHE/.lock"
  flock 9 || die "cannot lock $CACHE/.lock"
  ensure_dockerd

  # An interrupted run leaves no compile running (the build folder stays, so the next resumes).
  trap '[ -z "$COMPILE_PID" ] || docker rm -f "$COMPILE_CONTAINER" >/dev/null 2>&1 || true' EXIT
  build_base
  # The compile is the long part: it runs in the background while the other images build.
  if ! image_exists "$LLM"; then
    start_llama_compile
  fi
  build_gateway
  build_apt_image redis "$REDIS" "$RECIPES/redis.Dockerfile"
  build_apt_image proxy "$PROXY" "$RECIPES/proxy.Dockerfile"
  build_apt_image prometheus "$PROMETHEUS" "$RECIPES/prometheus.Dockerfile"
  build_apt_image curl "$CURL" "$RECIPES/curl.Dockerfile" "$RECIPES/curl-entrypoint.sh"
  build_llm

  write_outputs
  log "done"
}

main "$@"
exit
