"""A webhook receiver for tests: a real HTTP server that verifies every push with the
``standardwebhooks`` package (an independent implementation of the spec)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class Receiver:
    """Listens on ``port`` (0: a free one); :meth:`stop` / :meth:`start` take it down
    and bring it back on the same port."""

    def __init__(self, secret: str = "", port: int = 0) -> None:
        self.secret = secret
        self.port = port
        self.received: list[dict[str, Any]] = []  # verified: {"id", "body"}
        self.rejected: list[str] = []
        self.raw: list[tuple[bytes, dict[str, str]]] = []
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(n)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with outer._lock:
                    outer.raw.append((body, headers))
                try:
                    doc = Webhook(outer.secret).verify(body, headers)
                except WebhookVerificationError as exc:
                    with outer._lock:
                        outer.rejected.append(str(exc))
                    self.send_response(400)
                    self.end_headers()
                    return
                with outer._lock:
                    outer.received.append({"id": headers["webhook-id"], "body": doc})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def ids(self) -> list[str]:
        with self._lock:
            return [r["id"] for r in self.received]

    def alert_ids(self) -> list[str]:
        with self._lock:
            return [str(r["body"]["data"]["id"]) for r in self.received]


def verify_with_package(secret: str, body: bytes, headers: dict[str, str]) -> Any:
    """What a receiver does: raises WebhookVerificationError on a bad push."""
    return Webhook(secret).verify(body, headers)


__all__ = ["Receiver", "json", "verify_with_package"]
