"""Serving load test: N concurrent streaming clients against an OpenAI-compatible endpoint.

Standalone (standard library only) so it runs from the bench zipapp on the box:

    python3 bench.pyz serve --url http://127.0.0.1:8080 --clients 4 --requests 20

Measured per request, on the client's clock: time to first token (first streamed chunk that
carries content), total latency, and generated tokens (the server's `usage` when it reports
it, else one per streamed content chunk, capped at max_tokens: llama.cpp-based servers send
one chunk per token).
Aggregated: requests per minute and generated tokens per second over the wall time of the
whole run, latency and TTFT p50/p95, and every error. Not measured: the server's own queueing
split from its compute, and network time beyond loopback or the box's own interface.

The same generator drives scripts/bench_serving.py's batches (`generate` and `batch_json`):
one kept-alive connection per client, opened before the clock starts, a server name for
SNI and the Host header, whole (not streamed) answers, chosen response headers kept, and
llama-server's own timings (prompt plus generation) as `server_ms`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from . import defaults
from .loadreport import summarize, summary_text, verdict

MAX_CLIENTS = defaults.LOAD_MAX_CLIENTS
MAX_REQUESTS = defaults.LOAD_MAX_REQUESTS

EXIT_OK, EXIT_SHORT, EXIT_USAGE = 0, 1, 2


class BadInput(Exception):
    """A bad option value (exit 2)."""


@dataclass
class RequestRecord:
    """One request's outcome, as the client saw it."""

    index: int
    ok: bool
    ttft_s: float | None = None
    latency_s: float | None = None
    completion_tokens: int = 0
    error: str | None = None
    # Kept for a serving batch (batch_json) and left out of the load test's own report:
    status: int | None = None  # HTTP status; 0 when no answer came
    prompt_tokens: int = 0
    server_ms: float | None = None  # llama-server's timings: prompt_ms + predicted_ms
    prompt_n: int | None = None
    headers: dict[str, str] = field(default_factory=dict)  # the kept ones that were present
    reconnected: bool | None = None  # a kept-alive connection had to be opened again

    def brief(self) -> dict[str, Any]:
        """The fields the load test's report lists per request."""
        return {name: getattr(self, name) for name in BRIEF_FIELDS}


BRIEF_FIELDS = ("index", "ok", "ttft_s", "latency_s", "completion_tokens", "error")


@dataclass
class LoadSettings:
    url: str
    clients: int
    requests: int
    model: str | None = None
    max_tokens: int = defaults.LOAD_MAX_TOKENS
    prompt: str = defaults.LOAD_PROMPT
    request_timeout_s: float = defaults.LOAD_REQUEST_TIMEOUT_S
    duration_limit_s: float = defaults.LOAD_DURATION_LIMIT_S
    api_key: str | None = field(default=None, repr=False)
    ca_file: str | None = None  # verify https against this CA (a box's own) instead of the system's
    extra_body: dict[str, Any] = field(default_factory=dict)  # e.g. a gateway's cache control
    stream: bool = True  # False: ask for the whole answer at once (no time to first token)
    keep_alive: bool = False  # one connection per client, opened before the clock starts
    server_name: str | None = None  # TLS server name and Host header, when not the URL's host
    kept_headers: tuple[str, ...] = ()  # response headers to keep per request
    unique_tag: str | None = None  # appended to the prompt with the index: no cache can answer


def chat_completions_url(url: str) -> str:
    """Accept a server root, a /v1 base or the full endpoint; return the endpoint URL."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise BadInput(f"--url {url!r} is not an http(s) URL (e.g. http://127.0.0.1:8080)")
    path = parsed.path.rstrip("/")
    if path.endswith("/chat/completions"):
        pass
    elif path.endswith("/v1"):
        path += "/chat/completions"
    else:
        path += "/v1/chat/completions"
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, path, "", ""))


class NamedTLSConnection(http.client.HTTPConnection):
    """HTTPS to an address, with SNI and the certificate check for another name (a proxy's)."""

    def __init__(
        self, host: str, port: int, context: ssl.SSLContext, server_name: str, timeout: float
    ) -> None:
        super().__init__(host, port, timeout=timeout)
        self._context = context
        self._server_name = server_name

    def connect(self) -> None:
        super().connect()
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._server_name)


def open_connection(
    endpoint: str, timeout_s: float, ca_file: str | None = None, server_name: str | None = None
) -> tuple[http.client.HTTPConnection, str]:
    """A connection (not yet opened) to the endpoint's server, and the endpoint's path."""
    parsed = urllib.parse.urlsplit(endpoint)
    if parsed.scheme == "https":
        context = ssl.create_default_context(cafile=ca_file)  # verified, always
        if server_name:
            host, port = parsed.hostname or "", parsed.port or 443
            return NamedTLSConnection(host, port, context, server_name, timeout_s), parsed.path
        return http.client.HTTPSConnection(
            parsed.netloc, timeout=timeout_s, context=context
        ), parsed.path
    return http.client.HTTPConnection(parsed.netloc, timeout=timeout_s), parsed.path


def check_ca_file(path: str) -> None:
    """Refuse a --cacert that cannot be read or holds no PEM certificate (BadInput)."""
    try:
        ssl.create_default_context(cafile=path)
    except ssl.SSLError as exc:
        raise BadInput(f"--cacert {path} holds no PEM certificate ({exc.reason or exc})") from None
    except OSError as exc:
        raise BadInput(f"--cacert {path} cannot be read: {exc.strerror or exc}") from None


def tls_problem(url: str, timeout_s: float, ca_file: str | None = None) -> str | None:
    """Why an https server's certificate fails verification (one handshake), or None.

    Anything else (refused, timed out) is left to the requests, which report it per request.
    """
    endpoint = chat_completions_url(url)
    if urllib.parse.urlsplit(endpoint).scheme != "https":
        return None
    conn, _path = open_connection(endpoint, timeout_s, ca_file)
    try:
        conn.connect()
    except ssl.SSLCertVerificationError as exc:
        return str(exc.verify_message or exc.reason or exc)
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()
    return None


def untrusted(url: str, problem: str, ca_file: str | None) -> tuple[str, str]:
    """The error for a server whose certificate does not verify, and the way out."""
    trust = f"the CA in {ca_file}" if ca_file else "the system's trust store"
    return (
        f"the TLS certificate of {url} does not verify against {trust}: {problem}",
        "Give the box's CA with --cacert FILE (`hybridctl outputs NAME --ca > ca.pem` saves "
        "it); verification is never turned off.",
    )


def _headers(
    api_key: str | None, stream: bool = True, server_name: str | None = None
) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if stream:
        headers["Accept"] = "text/event-stream"
    if server_name:
        headers["Host"] = server_name
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def discover_model(
    endpoint: str, api_key: str | None, timeout_s: float, ca_file: str | None = None
) -> str | None:
    """The first model id the server lists at /v1/models, or None when it lists none."""
    models_path = endpoint.rsplit("/chat/completions", 1)[0] + "/models"
    conn, path = open_connection(models_path, timeout_s, ca_file)
    try:
        conn.request("GET", path, headers=_headers(api_key))
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            return None
        data = json.loads(body).get("data") or []
        return str(data[0]["id"]) if data else None
    except (OSError, ValueError, KeyError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def _choice_of(chunk: dict[str, Any]) -> dict[str, Any]:
    choices = chunk.get("choices") or []
    return choices[0] if choices and isinstance(choices[0], dict) else {}


def _is_token_chunk(choice: dict[str, Any]) -> bool:
    # llama.cpp-based servers stream one chunk per token; a token that ends inside a multi-byte
    # character arrives as empty content, so the key counts, not the text.
    delta = choice.get("delta") or {}
    return "content" in delta and delta["content"] is not None


def request_body(index: int, settings: LoadSettings) -> dict[str, Any]:
    """The chat completion request for one index (the prompt made unique when asked)."""
    prompt = settings.prompt
    if settings.unique_tag is not None:
        prompt = f"{prompt} (request {settings.unique_tag}-{index})"
    body: dict[str, Any] = {
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": settings.max_tokens,
        "stream": settings.stream,
    }
    if settings.stream:
        # Servers that support it (llama.cpp's server, vLLM, LiteLLM) then report exact usage.
        body["stream_options"] = {"include_usage": True}
    if settings.model:
        body["model"] = settings.model
    body.update(settings.extra_body)
    return body


def one_request(
    index: int,
    settings: LoadSettings,
    endpoint: str,
    conn: http.client.HTTPConnection | None = None,
) -> RequestRecord:
    """Send one chat completion and time it, on `conn` kept alive or on a connection of its own."""
    own = conn is None
    if conn is None:
        conn, path = open_connection(
            endpoint, settings.request_timeout_s, settings.ca_file, settings.server_name
        )
    else:
        path = urllib.parse.urlsplit(endpoint).path
    reconnected = None if own else conn.sock is None
    body = json.dumps(request_body(index, settings))
    headers = _headers(settings.api_key, settings.stream, settings.server_name)
    start = time.perf_counter()
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        if settings.stream:
            record = _streamed(index, settings, response, start)
        else:
            record = _whole(index, settings, response, start)
    except (OSError, ValueError, http.client.HTTPException) as exc:
        conn.close()
        latency = None if own else time.perf_counter() - start
        error = f"{type(exc).__name__}: {exc}"
        return RequestRecord(
            index, False, latency_s=latency, error=error, status=0, reconnected=reconnected
        )
    finally:
        if own:
            conn.close()
    record.reconnected = reconnected
    if not own:
        _ready_for_next(conn, response)
    return record


def _ready_for_next(conn: http.client.HTTPConnection, response: http.client.HTTPResponse) -> None:
    """Leave a kept-alive connection ready for the next request, or closed (it then reopens)."""
    if not response.isclosed():
        try:
            response.read()  # the rest of a stream after [DONE]: the chunked body's end
        except (OSError, http.client.HTTPException):
            conn.close()
            return
    if response.will_close:
        conn.close()


def _kept(response: http.client.HTTPResponse, settings: LoadSettings) -> dict[str, str]:
    found = ((name, response.getheader(name)) for name in settings.kept_headers)
    return {name: value for name, value in found if value}


def _streamed(
    index: int, settings: LoadSettings, response: http.client.HTTPResponse, start: float
) -> RequestRecord:
    """Read a streamed answer chunk by chunk: time to first token, latency, tokens."""
    status, headers = response.status, _kept(response, settings)
    if status != 200:
        detail = response.read(300).decode("utf-8", "replace").strip()
        return RequestRecord(
            index, False, error=f"HTTP {status}: {detail}", status=status, headers=headers
        )
    ttft: float | None = None
    chunks = 0
    usage_tokens: int | None = None
    finish_reason: str | None = None
    while True:
        line = response.readline()
        if not line:
            break
        text = line.decode("utf-8", "replace").strip()
        if not text.startswith("data:"):
            continue
        payload = text[5:].strip()
        if payload == "[DONE]":
            break
        chunk = json.loads(payload)
        if chunk.get("error"):
            return RequestRecord(
                index, False, error=f"stream error: {chunk['error']}", status=status
            )
        choice = _choice_of(chunk)
        if _is_token_chunk(choice):
            chunks += 1
            if ttft is None:
                ttft = time.perf_counter() - start
        finish_reason = choice.get("finish_reason") or finish_reason
        usage = chunk.get("usage")
        if isinstance(usage, dict) and usage.get("completion_tokens") is not None:
            usage_tokens = int(usage["completion_tokens"])
    latency = time.perf_counter() - start
    # Without usage, count chunks: llama.cpp-based servers send one per token, but
    # llama-cpp-python splits a token that ends inside a UTF-8 character over several chunks.
    tokens = usage_tokens if usage_tokens is not None else min(chunks, settings.max_tokens)
    if finish_reason is None:
        # The stream closed without saying why it ended: the server cut it off (a
        # llama-cpp-python server started without --interrupt_requests False does this to a
        # running request when the next one arrives).
        return RequestRecord(
            index,
            False,
            latency_s=latency,
            error="stream ended without a finish_reason",
            status=status,
            headers=headers,
        )
    return RequestRecord(
        index,
        True,
        ttft_s=ttft,
        latency_s=latency,
        completion_tokens=tokens,
        status=status,
        headers=headers,
    )


def _whole(
    index: int, settings: LoadSettings, response: http.client.HTTPResponse, start: float
) -> RequestRecord:
    """Read a whole answer: latency to its last byte, usage, and llama-server's own timings."""
    payload = response.read()
    record = RequestRecord(
        index,
        response.status == 200,
        latency_s=time.perf_counter() - start,
        status=response.status,
        headers=_kept(response, settings),
    )
    try:
        answer = json.loads(payload)
        usage = answer.get("usage") or {}
        timings = answer.get("timings") or {}  # llama-server's own; LiteLLM passes them on
    except (ValueError, AttributeError):
        usage, timings = {}, {}
    record.completion_tokens = int(usage.get("completion_tokens") or 0)
    record.prompt_tokens = int(usage.get("prompt_tokens") or 0)
    if "prompt_ms" in timings and "predicted_ms" in timings:
        record.server_ms = float(timings["prompt_ms"]) + float(timings["predicted_ms"])
        record.prompt_n = timings.get("prompt_n")
    if response.status != 200:
        detail = payload[:300].decode("utf-8", "replace").strip()
        record.error = f"HTTP {response.status}: {detail}"
    return record


@dataclass
class LoadRun:
    """What one run of the generator saw: every answered request and the clock around them."""

    records: list[RequestRecord]  # in index order
    wall_s: float
    connect_s: list[float]  # per kept-alive connection, opened before the clock (else empty)
    unsent: int  # requests never sent: the time limit came first
    stopped_by_deadline: bool


def connect_all(
    settings: LoadSettings, endpoint: str
) -> tuple[list[http.client.HTTPConnection], list[float]]:
    """One connection per client, opened (TCP and TLS) before the clock starts, and each's time."""
    conns: list[http.client.HTTPConnection] = []
    seconds: list[float] = []
    for _ in range(settings.clients):
        conn, _path = open_connection(
            endpoint, settings.request_timeout_s, settings.ca_file, settings.server_name
        )
        started = time.perf_counter()
        conn.connect()
        seconds.append(time.perf_counter() - started)
        conns.append(conn)
    return conns, seconds


def generate(settings: LoadSettings, endpoint: str, progress: Any = None) -> LoadRun:
    """Send settings.requests requests from settings.clients concurrent clients, and time them."""
    records: list[RequestRecord] = []
    lock = threading.Lock()
    next_index = [0]
    stopped_by_deadline = [False]
    conns: list[http.client.HTTPConnection | None] = [None] * settings.clients
    connect_s: list[float] = []
    if settings.keep_alive:
        opened, connect_s = connect_all(settings, endpoint)
        conns = list(opened)

    def client(conn: http.client.HTTPConnection | None) -> None:
        while True:
            with lock:
                if next_index[0] >= settings.requests:
                    return
                if time.monotonic() >= deadline:
                    stopped_by_deadline[0] = True
                    return
                index = next_index[0]
                next_index[0] += 1
            record = one_request(index, settings, endpoint, conn)
            with lock:
                records.append(record)
                done = len(records)
            if progress:
                progress(_progress_line(record, done, settings.requests))

    started = time.perf_counter()
    deadline = time.monotonic() + settings.duration_limit_s
    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in conns]
    for thread in threads:
        thread.start()
    for thread in threads:
        # A request cannot outlive its own socket timeout by much; this bounds the whole run.
        thread.join(timeout=max(0.0, deadline - time.monotonic()) + settings.request_timeout_s)
    wall = time.perf_counter() - started
    for conn in conns:
        if conn is not None:
            conn.close()
    with lock:
        finished = sorted(records, key=lambda r: r.index)
        unsent = settings.requests - next_index[0]
    return LoadRun(finished, wall, connect_s, unsent, stopped_by_deadline[0])


def batch_json(run: LoadRun) -> dict[str, Any]:
    """A serving batch's JSON: the clock, the connections and every request's raw figures."""
    requests = []
    for r in run.records:
        raw: dict[str, Any] = {"index": r.index, "reconnected": r.reconnected}
        raw.update(latency_s=r.latency_s, status=r.status)
        if r.status:  # an answer came: its headers, usage and the server's timings
            raw["headers"] = r.headers
            raw["completion_tokens"] = r.completion_tokens
            raw["prompt_tokens"] = r.prompt_tokens
            if r.server_ms is not None:
                raw.update(server_ms=r.server_ms, prompt_n=r.prompt_n)
        if r.error is not None:
            raw["error"] = r.error
        requests.append(raw)
    return {
        "wall_s": run.wall_s,
        "connect_s": run.connect_s,
        "unsent": run.unsent,
        "requests": requests,
    }


def run_load(settings: LoadSettings, progress: Any = None) -> dict[str, Any]:
    """Run the load test and return its figures (no verdict)."""
    endpoint = chat_completions_url(settings.url)
    if settings.model is None:
        settings.model = discover_model(
            endpoint, settings.api_key, settings.request_timeout_s, settings.ca_file
        )
    run = generate(settings, endpoint, progress)
    return summarize(settings, endpoint, run.records, run.wall_s, run.stopped_by_deadline)


def _progress_line(record: RequestRecord, done: int, total: int) -> str:
    if not record.ok:
        return f"request {done}/{total}: error: {record.error}"
    ttft = f"{record.ttft_s:.2f}" if record.ttft_s is not None else "-"
    return (
        f"request {done}/{total}: {record.completion_tokens} tokens, "
        f"ttft {ttft} s, latency {record.latency_s:.2f} s"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench serve",
        description="Load-test an OpenAI-compatible /v1/chat/completions endpoint (streaming).",
    )
    parser.add_argument("--url", required=True, help="server root, /v1 base or full endpoint URL")
    clients, requests = defaults.LOAD_CLIENTS, defaults.LOAD_REQUESTS
    parser.add_argument(
        "--clients", type=int, default=clients, help=f"concurrent clients (default {clients})"
    )
    parser.add_argument(
        "--requests", type=int, default=requests, help=f"total requests (default {requests})"
    )
    parser.add_argument("--model", help="model name to request (default: first of /v1/models)")
    parser.add_argument("--max-tokens", type=int, default=defaults.LOAD_MAX_TOKENS)
    parser.add_argument("--prompt", default=defaults.LOAD_PROMPT)
    parser.add_argument(
        "--api-key-env", metavar="VAR", help="name of the environment variable holding the API key"
    )
    parser.add_argument("--request-timeout", type=float, default=defaults.LOAD_REQUEST_TIMEOUT_S)
    parser.add_argument(
        "--time-limit",
        type=float,
        default=defaults.LOAD_DURATION_LIMIT_S,
        help="seconds for the run",
    )
    parser.add_argument(
        "--cacert", metavar="FILE", help="verify https against this CA (PEM) only, e.g. a box's"
    )
    parser.add_argument("--promised-concurrency", type=int)
    parser.add_argument("--target-rpm", type=float, help="requests-per-minute target")
    parser.add_argument("--max-p95-latency", type=float, help="promised latency ceiling, seconds")
    parser.add_argument("--out", help="write the JSON result here (default: stdout)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return parser


def settings_from_args(args: argparse.Namespace) -> LoadSettings:
    if not 1 <= args.clients <= MAX_CLIENTS:
        raise BadInput(f"--clients must be 1..{MAX_CLIENTS}, got {args.clients}")
    if not 1 <= args.requests <= MAX_REQUESTS:
        raise BadInput(f"--requests must be 1..{MAX_REQUESTS}, got {args.requests}")
    if args.max_tokens < 1:
        raise BadInput(f"--max-tokens must be at least 1, got {args.max_tokens}")
    if args.time_limit <= 0 or args.request_timeout <= 0:
        raise BadInput("--time-limit and --request-timeout must be positive")
    api_key = None
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            raise BadInput(f"environment variable {args.api_key_env} (--api-key-env) is not set")
    chat_completions_url(args.url)
    if args.cacert is not None:
        check_ca_file(args.cacert)
    return LoadSettings(
        url=args.url,
        clients=args.clients,
        requests=args.requests,
        model=args.model,
        max_tokens=args.max_tokens,
        prompt=args.prompt,
        request_timeout_s=args.request_timeout,
        duration_limit_s=args.time_limit,
        api_key=api_key,
        ca_file=args.cacert,
    )


def main(argv: list[str] | None = None) -> int:
    """`bench serve`: run the load test, write JSON, print a summary; exit 0/1 (short)/2 (usage)."""
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from_args(args)
    except BadInput as exc:
        print(f"bench serve: error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    def progress(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    problem = tls_problem(settings.url, settings.request_timeout_s, settings.ca_file)
    if problem:
        message, hint = untrusted(settings.url, problem, settings.ca_file)
        print(f"bench serve: error: {message}\n{hint}", file=sys.stderr)
        return EXIT_SHORT

    progress(
        f"load test: {settings.clients} clients, {settings.requests} requests, "
        f"max {settings.max_tokens} tokens each, against {chat_completions_url(settings.url)}"
    )
    result = run_load(settings, progress)
    result["verdict"] = verdict(
        result,
        promised_concurrency=args.promised_concurrency,
        target_rpm=args.target_rpm,
        max_p95_latency_s=args.max_p95_latency,
    )
    text = json.dumps(result, indent=2)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    else:
        sys.stdout.write(text + "\n")
    print(summary_text(result), file=sys.stderr, flush=True)
    return EXIT_OK if result["verdict"]["ok"] else EXIT_SHORT


if __name__ == "__main__":
    raise SystemExit(main())
