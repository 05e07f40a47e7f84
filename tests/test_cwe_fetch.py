"""download(): a real HTTP server on 127.0.0.1 that can cut connections and ignore Range requests."""

from __future__ import annotations

import io
import socket
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sectune.errors import SectuneError
from sectune.tasks.cwe.fetch import download

FIXTURES = Path(__file__).parent / "fixtures" / "cve"


def fixture_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:  # stored: big enough to cut in the middle
        for f in sorted(FIXTURES.glob("CVE-*.json")):
            zf.write(f, f"cvelistV5-main/cves/{f.name}")
    return buf.getvalue()


class Server:
    """Serves ``body`` at /cves.zip; knobs: cut the next N responses half-way, ignore Range."""

    def __init__(self) -> None:
        self.body = fixture_zip()
        self.cut = 0
        self.ignore_range = False
        self.requests: list[dict[str, str]] = []


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        state: Server = self.server.state  # type: ignore[attr-defined]
        state.requests.append({"path": self.path, **dict(self.headers)})
        if self.path == "/missing.zip":
            self.send_error(404, "Not Found")
            return
        body = state.body if self.path == "/cves.zip" else b"<html>not a zip</html>" * 50
        start, status = 0, 200
        ranged = self.headers.get("Range")
        if ranged and not state.ignore_range:
            start = int(ranged.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(len(body) - start))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        payload = body[start:]
        if state.cut:
            state.cut -= 1
            self.wfile.write(payload[: len(payload) // 2])  # full Content-Length announced, then hang up
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.state = Server()  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd.state, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_full_download(server, tmp_path):
    state, base = server
    dest = download(f"{base}/cves.zip", tmp_path / "sub" / "cves.zip", progress=False, timeout=5, backoff=0)
    assert dest == tmp_path / "sub" / "cves.zip"
    assert dest.read_bytes() == state.body
    assert not (tmp_path / "sub" / "cves.zip.part").exists()
    assert "Range" not in state.requests[0]


def test_resume_after_cut(server, tmp_path):
    state, base = server
    state.cut = 1
    dest = download(f"{base}/cves.zip", tmp_path / "cves.zip", progress=False, timeout=5, backoff=0, chunk=4096)
    assert dest.read_bytes() == state.body
    assert len(state.requests) == 2
    assert "Range" not in state.requests[0]
    assert state.requests[1]["Range"] == f"bytes={len(state.body) // 2}-"


def test_resume_from_earlier_run(server, tmp_path):
    state, base = server
    (tmp_path / "cves.zip.part").write_bytes(state.body[:1000])  # left by an interrupted run
    dest = download(f"{base}/cves.zip", tmp_path / "cves.zip", progress=False, timeout=5, backoff=0)
    assert dest.read_bytes() == state.body
    assert [r["Range"] for r in state.requests] == ["bytes=1000-"]


def test_416_means_already_complete(server, tmp_path):
    state, base = server
    part = tmp_path / "cves.zip.part"
    part.write_bytes(state.body)
    dest = download(f"{base}/cves.zip", tmp_path / "cves.zip", progress=False, timeout=5, backoff=0)
    assert dest.read_bytes() == state.body and not part.exists()
    assert [r["Range"] for r in state.requests] == [f"bytes={len(state.body)}-"]


def test_200_reply_to_range_restarts(server, tmp_path):
    state, base = server
    state.ignore_range = True
    (tmp_path / "cves.zip.part").write_bytes(b"stale bytes from another file")
    dest = download(f"{base}/cves.zip", tmp_path / "cves.zip", progress=False, timeout=5, backoff=0)
    assert dest.read_bytes() == state.body
    assert state.requests[0]["Range"] == f"bytes={len(b'stale bytes from another file')}-"


def test_http_404(server, tmp_path):
    _, base = server
    with pytest.raises(SectuneError, match="HTTP 404") as err:
        download(f"{base}/missing.zip", tmp_path / "missing.zip", progress=False, timeout=5, backoff=0)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "missing.zip").exists()


def test_corrupt_body_removed(server, tmp_path):
    _, base = server
    with pytest.raises(SectuneError, match="corrupt"):
        download(f"{base}/bad.zip", tmp_path / "bad.zip", progress=False, timeout=5, backoff=0)
    assert list(tmp_path.iterdir()) == []


def test_gives_up_after_retries_and_keeps_part(server, tmp_path):
    state, base = server
    state.cut = 10
    with pytest.raises(SectuneError, match="cut 3 times.*run again to resume"):
        download(f"{base}/cves.zip", tmp_path / "cves.zip", progress=False, timeout=5, backoff=0, retries=2)
    assert len(state.requests) == 3
    part = tmp_path / "cves.zip.part"
    assert 0 < part.stat().st_size < len(state.body) and not (tmp_path / "cves.zip").exists()
    state.cut = 0
    download(
        f"{base}/cves.zip", tmp_path / "cves.zip", progress=False, timeout=5, backoff=0
    )  # the next run finishes it
    assert (tmp_path / "cves.zip").read_bytes() == state.body


def test_cannot_reach(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SectuneError, match=f"cannot reach http://127.0.0.1:{port}/x.zip: ") as err:
        download(f"http://127.0.0.1:{port}/x.zip", tmp_path / "x.zip", progress=False, timeout=5, backoff=0)
    assert "\n" not in str(err.value)


def test_data_cve_fetch_downloads_resumes_and_ingests(server, tmp_path, capsys) -> None:
    """The whole command against the local server: cut half-way, resumed, verified, ingested."""
    import json

    from sectune.cli import main

    state, base = server
    state.cut = 1
    out = tmp_path / "cve.jsonl"
    code = main(
        ["--quiet", "data", "cve", "--fetch", f"{base}/cves.zip", "--download-dir", str(tmp_path), "--output", str(out)]
    )
    assert code == 0, capsys.readouterr().err
    assert any("Range" in r for r in state.requests[1:]), "the second request resumed with a Range header"
    assert (tmp_path / "cves.zip").is_file() and not (tmp_path / "cves.zip.part").exists()
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["cve_id"] for r in rows} >= {"CVE-2024-0001", "CVE-2024-0002"}
