#!/bin/sh
# Rendered by hybridctl: fetch each model of tier 1 once into /models.
# Re-running is cheap: a model already in place is skipped, a partial download resumes
# (curl -C -), and a file whose sha256 differs from the catalog's is deleted, never served.
set -eu
MODELS_DIR="${MODELS_DIR:-/models}"

fetch() {
    file="$1"
    url="$2"
    sha="$3"
    dest="$MODELS_DIR/$file"
    if [ -f "$dest" ]; then
        echo "models-init: $file already present"
        return 0
    fi
    if [ -n "$sha" ] && [ -f "$dest.part" ] && echo "$sha  $dest.part" | sha256sum -c - >/dev/null 2>&1; then
        mv "$dest.part" "$dest"
        echo "models-init: $file completed earlier, checksum ok"
        return 0
    fi
    attempt=1
    until curl -fL --retry 5 --retry-delay 10 --connect-timeout 30 -C - -o "$dest.part" "$url"; do
        if [ "$attempt" -ge 5 ]; then
            echo "models-init: $file: download failed $attempt times, giving up" >&2
            return 1
        fi
        attempt=$((attempt + 1))
        echo "models-init: $file: download interrupted, resuming (attempt $attempt)" >&2
        sleep "${FETCH_PAUSE_S:-15}"
    done
    if [ -n "$sha" ]; then
        if ! echo "$sha  $dest.part" | sha256sum -c - >/dev/null 2>&1; then
            echo "models-init: $file: sha256 mismatch, deleting the download" >&2
            rm -f "$dest.part"
            return 1
        fi
        echo "models-init: $file: sha256 ok"
    else
        echo "models-init: $file: the catalog has no sha256 for it, so it was not verified" >&2
    fi
    mv "$dest.part" "$dest"
}

mkdir -p "$MODELS_DIR"
fetch tinyllama-1.1b-chat-q4_k_m.gguf https://huggingface.co/TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF/resolve/main/tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf 9fecc3b3cd76bba89d504f29b616eedf7da85b96540e490ca5824d3f7d2776a0
echo "models-init: all 1 model(s) in place"
