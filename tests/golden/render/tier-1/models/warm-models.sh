#!/bin/sh
# Rendered by hybridctl: send each model one small request once the server is up, so the
# first user's request does not pay the load (the cold start is tens of seconds on small boxes).
set -eu
LLM_URL="${LLM_URL:-http://llm:8080}"

warm() {
    model="$1"
    attempt=1
    until curl -fsS --max-time 600 -H "Content-Type: application/json" \
        -d "{\"model\": \"$model\", \"messages\": [{\"role\": \"user\", \"content\": \"hello\"}], \"max_tokens\": 1}" \
        -o /dev/null "$LLM_URL/v1/chat/completions"; do
        if [ "$attempt" -ge "${WARM_TRIES:-30}" ]; then
            echo "models-warm: $model did not answer after $attempt tries" >&2
            return 1
        fi
        attempt=$((attempt + 1))
        sleep "${WARM_PAUSE_S:-10}"
    done
    echo "models-warm: $model warm"
}

warm tinyllama-1.1b-chat-q4_k_m
