"""bench_serving.py's load entry point: N chat requests at concurrency C to one URL, as JSON."""

# The generator is the bench's own (hybridctl/bench/loadtest.py, standard library only).
# bench_serving.py copies the bench package beside this file into the load container, where
# it imports as `bench`; run from the repository it imports as `hybridctl.bench`.

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if (HERE / "bench" / "loadtest.py").is_file():  # in the load container
    from bench import loadtest  # type: ignore[import-not-found,no-redef]
else:  # in the repository's scripts/
    sys.path.insert(0, str(HERE.parent))
    from hybridctl.bench import loadtest

KEPT_HEADERS = (
    "x-hybrid-route",
    "x-litellm-response-duration-ms",
    "x-litellm-overhead-duration-ms",
    "x-litellm-callback-duration-ms",
    "x-litellm-cache-key",
)
PROMPT = "What are your opening hours?"  # a short FAQ-style question, made unique per request


def settings_from(args: argparse.Namespace) -> loadtest.LoadSettings:
    """The generator's settings for one batch: kept-alive, whole answers, unique prompts."""
    return loadtest.LoadSettings(
        url=args.url,
        clients=args.concurrency,
        requests=args.requests,
        model=args.model,
        max_tokens=args.max_tokens,
        prompt=PROMPT,
        request_timeout_s=args.timeout_s,
        duration_limit_s=args.deadline_s,
        api_key=os.environ.get("BENCH_KEY") or None,
        ca_file=args.cafile,
        extra_body={"temperature": 0.8},
        stream=False,
        keep_alive=True,
        server_name=args.server_name,
        kept_headers=KEPT_HEADERS,
        unique_tag=args.tag,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="http://llm:8080 or https://proxy:443")
    parser.add_argument("--model", required=True)
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--tag", required=True, help="makes every prompt unique")
    parser.add_argument("--cafile", help="CA certificate for https URLs")
    parser.add_argument("--server-name", default="localhost", help="SNI and Host header")
    parser.add_argument("--timeout-s", type=float, default=120.0, help="per request")
    parser.add_argument("--deadline-s", type=float, default=600.0, help="the whole batch")
    args = parser.parse_args(argv)

    socket.setdefaulttimeout(args.timeout_s)
    settings = settings_from(args)
    run = loadtest.generate(settings, loadtest.chat_completions_url(settings.url))
    json.dump(loadtest.batch_json(run), sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
