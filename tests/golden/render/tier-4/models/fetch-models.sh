#!/bin/sh
# Rendered by hybridctl: fetch each model of tier 4 once into /models.
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
fetch mistral-7b-instruct-v0.2-q4_k_m.gguf https://huggingface.co/TheBloke/Mistral-7B-Instruct-v0.2-GGUF/resolve/main/mistral-7b-instruct-v0.2.Q4_K_M.gguf 3e0039fd0273fcbebb49228943b17831aadd55cbcbf56f0af00499be2040ccf9
fetch llama-3-8b-instruct-q4_k_m.gguf https://huggingface.co/QuantFactory/Meta-Llama-3-8B-Instruct-GGUF/resolve/main/Meta-Llama-3-8B-Instruct.Q4_K_M.gguf 86c8ea6c8b755687d0b723176fcd0b2411ef80533d23e2a5030f845d13ab2db7
echo "models-init: all 2 model(s) in place"
