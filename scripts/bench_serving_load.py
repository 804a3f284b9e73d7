"""bench_serving.py's load generator: N chat requests at concurrency C to one URL (stdlib)."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import ssl
import sys
import threading
import time
from typing import Any
from urllib.parse import urlsplit

KEPT_HEADERS = (
    "x-hybrid-route",
    "x-litellm-response-duration-ms",
    "x-litellm-overhead-duration-ms",
    "x-litellm-callback-duration-ms",
    "x-litellm-cache-key",
)


class TLSConnection(http.client.HTTPConnection):
    """HTTPS to `host` with SNI and certificate check for `server_name` (the proxy's cert name)."""

    def __init__(
        self, host: str, port: int, context: ssl.SSLContext, server_name: str, timeout: float
    ):
        super().__init__(host, port, timeout=timeout)
        self._context = context
        self._server_name = server_name

    def connect(self) -> None:
        super().connect()
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._server_name)


def open_connection(args: argparse.Namespace) -> http.client.HTTPConnection:
    url = urlsplit(args.url)
    if url.scheme == "https":
        context = ssl.create_default_context(cafile=args.cafile)
        port = url.port or 443
        return TLSConnection(url.hostname or "", port, context, args.server_name, args.timeout_s)
    return http.client.HTTPConnection(url.hostname or "", url.port or 80, timeout=args.timeout_s)


def request_body(args: argparse.Namespace, index: int) -> bytes:
    """A short FAQ-style prompt, unique per request so that no cache can answer it."""
    prompt = f"What are your opening hours? (request {args.tag}-{index})"
    body = {
        "model": args.model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": args.max_tokens,
        "temperature": 0.8,
        "stream": False,
    }
    return json.dumps(body).encode()


def one_request(
    conn: http.client.HTTPConnection, args: argparse.Namespace, index: int
) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "Host": args.server_name}
    key = os.environ.get("BENCH_KEY")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    record: dict[str, Any] = {"index": index, "reconnected": conn.sock is None}
    started = time.perf_counter()
    try:
        conn.request(
            "POST", "/v1/chat/completions", body=request_body(args, index), headers=headers
        )
        response = conn.getresponse()
        payload = response.read()
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        record.update(latency_s=time.perf_counter() - started, status=0, error=repr(exc))
        return record
    record["latency_s"] = time.perf_counter() - started
    record["status"] = response.status
    record["headers"] = {h: response.getheader(h) for h in KEPT_HEADERS if response.getheader(h)}
    if response.will_close:
        conn.close()
    try:
        answer = json.loads(payload)
        usage = answer.get("usage") or {}
        timings = answer.get("timings") or {}  # llama-server's own; LiteLLM passes them on
    except (ValueError, AttributeError):
        usage, timings = {}, {}
    record["completion_tokens"] = int(usage.get("completion_tokens") or 0)
    record["prompt_tokens"] = int(usage.get("prompt_tokens") or 0)
    if "prompt_ms" in timings and "predicted_ms" in timings:
        record["server_ms"] = float(timings["prompt_ms"]) + float(timings["predicted_ms"])
        record["prompt_n"] = timings.get("prompt_n")
    if response.status != 200:
        record["error"] = payload[:300].decode(errors="replace")
    return record


def worker(
    args: argparse.Namespace,
    conn: http.client.HTTPConnection,
    indices: list[int],
    lock: threading.Lock,
    deadline: float,
    out: list[dict[str, Any]],
) -> None:
    while time.monotonic() < deadline:
        with lock:
            if not indices:
                return
            index = indices.pop(0)
        out.append(one_request(conn, args, index))


def connect_all(args: argparse.Namespace) -> tuple[list[http.client.HTTPConnection], list[float]]:
    """One kept-alive connection per worker, opened (TCP and TLS) before the clock starts."""
    conns, seconds = [], []
    for _ in range(args.concurrency):
        conn = open_connection(args)
        started = time.perf_counter()
        conn.connect()
        seconds.append(time.perf_counter() - started)
        conns.append(conn)
    return conns, seconds


def main() -> int:
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
    args = parser.parse_args()

    socket.setdefaulttimeout(args.timeout_s)
    conns, connect_s = connect_all(args)
    indices = list(range(args.requests))
    lock = threading.Lock()
    results: list[dict[str, Any]] = []
    started = time.perf_counter()
    deadline = time.monotonic() + args.deadline_s
    threads = [
        threading.Thread(target=worker, args=(args, conn, indices, lock, deadline, results))
        for conn in conns
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall_s = time.perf_counter() - started
    for conn in conns:
        conn.close()
    json.dump(
        {"wall_s": wall_s, "connect_s": connect_s, "unsent": len(indices), "requests": results},
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
