"""A fake OpenAI-compatible cloud vendor for the box tests: answers every chat completion.

Runs inside a container on the box's network (standard library only). Each answer names the
model it was asked for and carries fixed token usage, so the gateway prices it like a real
vendor's. GET /count tells how many completions it served.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = 9000
USAGE = {"prompt_tokens": 2000, "completion_tokens": 2000, "total_tokens": 4000}
_served = 0
_lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/count":
            self._send(200, {"served": _served})
        else:
            self._send(200, {"object": "list", "data": []})

    def do_POST(self) -> None:
        global _served
        length = int(self.headers.get("Content-Length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        with _lock:
            _served += 1
        model = request.get("model", "unknown")
        self._send(
            200,
            {
                "id": f"chatcmpl-fake-{_served}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": f"fake-cloud answered {model}"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": USAGE,
            },
        )

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
