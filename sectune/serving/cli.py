"""``sectune serve MODEL_DIR [MODEL_DIR...]``: load the models, check the bind rule, listen with uvicorn."""

from __future__ import annotations

import argparse
import os
import socket
import sys

from sectune.errors import SectuneError
from sectune.security import add_switch_flags, switches
from sectune.serving.security import Limits, check_bind

TOKEN_ENV = "SECTUNE_SERVE_TOKEN"
DEFAULTS = Limits()


def add_serve_parser(subparsers) -> argparse.ArgumentParser:
    """``sectune serve``: add the sub-command to the top-level sub-parsers."""
    p = subparsers.add_parser(
        "serve",
        help="serve model directories over HTTP (Open Inference Protocol v2, JSON, a web page, /metrics)",
        description="Serve trained model directories: KServe/Triton's v2 protocol (/v2/models/NAME/infer), "
        "POST /predict (top-k labels, CWE names and links; CVE JSON 5 records as they are), POST /scan (command "
        "lines: score, alert, technique, explanation), GET /metrics (Prometheus) and a page at /. Binds "
        "127.0.0.1 unless told otherwise; any other address needs --token (or --insecure). Only the directories "
        "named here are ever loaded.",
    )
    p.add_argument(
        "model_dirs",
        nargs="+",
        metavar="MODEL_DIR",
        help="model directories to serve, each named after its folder or NAME=DIR; the first is the default",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8080, help="port to listen on (0: any free port, printed at start)")
    p.add_argument(
        "--token",
        help=f"require 'Authorization: Bearer TOKEN' on every call but the health probes and the page "
        f"(at least 16 characters; or set {TOKEN_ENV}, which other users cannot read in the process list)",
    )
    p.add_argument(
        "--insecure", action="store_true", help="allow a non-loopback --host without --token (anyone who reaches it)"
    )
    g = p.add_argument_group("limits (a request past one is refused at once with a JSON error, never queued)")
    g.add_argument("--max-body-bytes", type=int, default=DEFAULTS.max_body_bytes, help="request body cap (413)")
    g.add_argument("--max-batch", type=int, default=DEFAULTS.max_batch, help="texts per request (413)")
    g.add_argument("--max-text-chars", type=int, default=DEFAULTS.max_text_chars, help="characters per text (413)")
    g.add_argument(
        "--max-concurrency", type=int, default=DEFAULTS.max_concurrency, help="inference requests in flight (429)"
    )
    g.add_argument("--max-queue", type=int, default=DEFAULTS.max_queue, help="texts waiting per model (503)")
    g.add_argument(
        "--batch-wait-ms",
        type=float,
        default=DEFAULTS.batch_wait_ms,
        help="how long concurrent requests are gathered into one forward pass",
    )
    g.add_argument("--batch-texts", type=int, default=DEFAULTS.batch_texts, help="texts per forward pass at most")
    g.add_argument("--timeout", type=float, default=DEFAULTS.timeout_s, help="seconds a request may wait (503)")
    p.add_argument("--no-access-log", action="store_true", help="no JSON access-log lines on stderr")
    add_switch_flags(p)
    return p


def limits_of(args: argparse.Namespace) -> Limits:
    return Limits(
        max_body_bytes=args.max_body_bytes,
        max_batch=args.max_batch,
        max_text_chars=args.max_text_chars,
        max_concurrency=args.max_concurrency,
        max_queue=args.max_queue,
        batch_wait_ms=args.batch_wait_ms,
        batch_texts=args.batch_texts,
        timeout_s=args.timeout,
    )


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a busy port is one line, not a uvicorn traceback."""
    if not 0 <= port <= 65535:
        raise SectuneError(f"--port must be between 0 and 65535, got {port}")
    try:
        family, kind, proto = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)[0][:3]
    except socket.gaierror as exc:
        raise SectuneError(f"cannot resolve --host {host}: {exc.strerror}") from None
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and without it
    # every keep-alive response waits 40 ms for a delayed ACK (Nagle holds the body behind the headers)
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SectuneError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run_serve_command(args: argparse.Namespace) -> int:
    """Check everything that can be wrong before the first model loads, then serve until Ctrl-C or SIGTERM."""
    try:
        import uvicorn

        from sectune.serving.app import create_app
        from sectune.serving.observability import configure_access_log
    except ImportError as exc:
        raise SectuneError(
            f"serve needs the 'serve' extra ({exc.name} is missing): pip install 'sectune[serve]'"
        ) from None
    from sectune.serving.models import load_models

    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV) or None
    check_bind(args.host, token, args.insecure)
    limits = limits_of(args)
    models = load_models(args.model_dirs, **switches(args))
    sock = listen(args.host, args.port)
    configure_access_log(not args.no_access_log)
    app = create_app(models, limits=limits, token=token)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(
        f"sectune: serving {', '.join(m.name for m in models)} on http://{shown}:{port}/"
        + (" (bearer token required)" if token else "")
        + (" WITHOUT a token, to anyone who can reach it" if not token and args.insecure else ""),
        file=sys.stderr,
        flush=True,
    )
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,  # ours is JSON and never logs bodies
        server_header=False,
        timeout_keep_alive=5,
        # a backstop past the app's own 429: connections beyond this get uvicorn's 503 before any work
        limit_concurrency=limits.max_concurrency * 4 + 64,
    )
    uvicorn.Server(config).run(sockets=[sock])
    return 0
