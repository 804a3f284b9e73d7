#!/bin/sh
# Rendered by hybridctl: fetch each model of tier 4 once into /models.
# Re-running is cheap: a model already in place is skipped, a partial download resumes
# (curl -C -), and a file whose sha256 differs from the catalog's is deleted, never served.
# A failed download is tried again while it makes progress (an interrupted transfer resumes,
# up to FETCH_MAX_TRIES times); one that gets nowhere (an unknown host, a refused connection,
# an HTTP error) gives up after FETCH_FRUITLESS_TRIES tries, within about a minute, and the
# log's last line is curl's own message.
set -eu
MODELS_DIR="${MODELS_DIR:-/models}"
CONNECT_TIMEOUT_S="${FETCH_CONNECT_TIMEOUT_S:-20}"
FRUITLESS_TRIES="${FETCH_FRUITLESS_TRIES:-2}"
MAX_TRIES="${FETCH_MAX_TRIES:-20}"
PAUSE_S="${FETCH_PAUSE_S:-5}"

# A file just written sits in the page cache in small pages, and a model server that maps it
# then decodes about a quarter slower than from a file read afresh: drop the cache of a fetched
# file so the server reads it in large folios (GNU dd; elsewhere a no-op).
drop_cache() {
    sync "$1" 2>/dev/null || sync
    dd if="$1" iflag=nocache count=0 status=none 2>/dev/null || true
}

size_of() {
    if [ -f "$1" ]; then wc -c <"$1" | tr -d ' '; else echo 0; fi
}

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
    echo "models-init: $file: downloading from $url"
    tries=0
    fruitless=0
    while :; do
        tries=$((tries + 1))
        before=$(size_of "$dest.part")
        # -sS: no progress meter, but curl's own error ("curl: (6) Could not resolve host: ...");
        # a transfer slower than 1 KiB/s for a minute is cut off and resumed.
        if said=$(curl -fsSL --connect-timeout "$CONNECT_TIMEOUT_S" --speed-limit 1024 \
            --speed-time 60 -C - -o "$dest.part" "$url" 2>&1); then
            break
        fi
        said=$(printf '%s\n' "$said" | tail -n 1)
        if [ "$(size_of "$dest.part")" -gt "$before" ]; then
            fruitless=0
        else
            fruitless=$((fruitless + 1))
        fi
        if [ "$fruitless" -ge "$FRUITLESS_TRIES" ] || [ "$tries" -ge "$MAX_TRIES" ]; then
            echo "models-init: $file: download failed after $tries attempt(s): ${said:-curl failed} ($url)" >&2
            return 1
        fi
        echo "models-init: $file: ${said:-curl failed}; retrying in $PAUSE_S s" >&2
        sleep "$PAUSE_S"
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
    drop_cache "$dest"
}

mkdir -p "$MODELS_DIR"
fetch mistral-7b-instruct-v0.2-q4_k_m.gguf https://huggingface.co/TheBloke/Mistral-7B-Instruct-v0.2-GGUF/resolve/main/mistral-7b-instruct-v0.2.Q4_K_M.gguf 3e0039fd0273fcbebb49228943b17831aadd55cbcbf56f0af00499be2040ccf9
fetch llama-3-8b-instruct-q4_k_m.gguf https://huggingface.co/QuantFactory/Meta-Llama-3-8B-Instruct-GGUF/resolve/main/Meta-Llama-3-8B-Instruct.Q4_K_M.gguf 86c8ea6c8b755687d0b723176fcd0b2411ef80533d23e2a5030f845d13ab2db7
echo "models-init: all 2 model(s) in place"
