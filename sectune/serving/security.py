"""What keeps a served model safe by default: the bind rule, the bearer token, and the caps every request meets.

A model server is a network service reading untrusted input, so the defaults are the careful ones: it binds the
loopback address; any other address needs a token (or an explicit ``--insecure``, which says what it means);
a request body, a batch, the requests in flight and the texts waiting for the model are all bounded, and a
request past a bound is refused at once (413, 429, 503) rather than queued without limit.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from sectune.errors import SectuneError

LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost", "ip6-loopback"})
# Paths anyone may read without the token: the probes an orchestrator calls, and the page (static; it asks for
# the token itself and sends it with every call).
PUBLIC_PATHS = frozenset({"/", "/v2/health/live", "/v2/health/ready", "/favicon.ico"})
PUBLIC_PREFIXES = ("/static/",)


@dataclass(frozen=True)
class Limits:
    """The bounds of one server; each is a ``sectune serve`` flag."""

    max_body_bytes: int = 1 << 20  # a request body larger than this: 413 before it is read whole
    max_batch: int = 256  # texts in one request: more is 413 (split the batch)
    max_text_chars: int = 100_000  # one text longer than this: 413 (a command line or CVE text is far shorter)
    max_concurrency: int = 64  # inference requests in flight at once; one more is 429 with Retry-After
    max_queue: int = 4096  # texts waiting for a model's forward pass; past this a request is 503
    batch_wait_ms: float = 5.0  # how long the batcher gathers concurrent requests before a forward pass
    batch_texts: int = 64  # texts per forward pass at most (a bigger request still goes alone)
    timeout_s: float = 30.0  # a request whose result takes longer is 503

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_batch", "max_text_chars", "max_concurrency", "max_queue", "batch_texts"):
            if getattr(self, name) < 1:
                raise SectuneError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.batch_wait_ms < 0:
            raise SectuneError(f"--batch-wait-ms must be 0 or more, got {self.batch_wait_ms}")
        if self.timeout_s <= 0:
            raise SectuneError(f"--timeout must be above 0, got {self.timeout_s}")
        if self.max_queue < self.max_batch:
            raise SectuneError(f"--max-queue ({self.max_queue}) must hold at least one full batch ({self.max_batch})")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_bind(host: str, token: str | None, insecure: bool) -> None:
    """Refuse to listen beyond this machine without a token, unless the user said ``--insecure`` out loud."""
    if token is not None and len(token) < 16:
        raise SectuneError(
            "--token must be at least 16 characters (e.g. python -c 'import secrets; print(secrets.token_urlsafe())')"
        )
    if is_loopback(host) or token or insecure:
        return
    raise SectuneError(
        f"binding {host} exposes the models beyond this machine: pass --token TOKEN (or set SECTUNE_SERVE_TOKEN) so "
        "every request must carry 'Authorization: Bearer TOKEN', or --insecure to serve without one"
    )


def token_ok(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``token``: compared in constant time, so timing tells nothing."""
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8", "replace"), token.encode("utf-8"))


def needs_token(path: str) -> bool:
    return path not in PUBLIC_PATHS and not path.startswith(PUBLIC_PREFIXES)


class BodyTooLarge(Exception):
    """Raised from ``receive`` when a body grows past the cap (a chunked body announces no length)."""


Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Guard:
    """ASGI middleware: the token check and the body cap, before any route reads a byte.

    A declared ``Content-Length`` over the cap is refused at once; a body without one is counted as it arrives
    and refused when it passes the cap, so no request makes the server hold more than ``max_body_bytes``.
    """

    def __init__(self, app: Callable, *, token: str | None, max_body_bytes: int, on_reject: Callable[[str], None]):
        self.app, self.token, self.max_body_bytes, self.on_reject = app, token, max_body_bytes, on_reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.token and needs_token(scope["path"]) and not token_ok(headers.get("authorization"), self.token):
            self.on_reject("auth")
            await send_error(send, 401, "missing or wrong bearer token", {"www-authenticate": 'Bearer realm="sectune"'})
            return
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await send_error(send, 400, "Content-Length is not a number")
                return
            if int(declared) > self.max_body_bytes:
                self.on_reject("body_too_large")
                await send_error(send, 413, too_large(int(declared), self.max_body_bytes))
                return
        seen = 0
        started = False

        async def counted_receive() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    raise BodyTooLarge()
            return message

        async def watched_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge:
            self.on_reject("body_too_large")
            if not started:
                await send_error(send, 413, too_large(seen, self.max_body_bytes, at_least=True))


def too_large(size: int, cap: int, at_least: bool = False) -> str:
    return f"request body of {'at least ' if at_least else ''}{size:,} bytes is over the cap of {cap:,} bytes"


async def send_error(send: Send, status: int, message: str, headers: dict[str, str] | None = None) -> None:
    """A JSON error response written straight to ASGI, for refusals made before the app runs."""
    import json

    body = json.dumps({"error": message}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
