"""Download a CVE archive with resume: the full cvelistV5 zip is hundreds of MB and connections drop.

Bytes go to ``<dest>.part``; a cut connection (or a later run) continues from its size with an HTTP
Range request, and the file is renamed to ``dest`` only once it opens as the archive it claims to be.
"""

from __future__ import annotations

import gzip
import http.client
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path

from sectune.errors import SectuneError

DEFAULT_CVE_URL = "https://github.com/CVEProject/cvelistV5/archive/refs/heads/main.zip"

_CUT = (http.client.IncompleteRead, ConnectionError, TimeoutError, socket.timeout)  # worth resuming
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-\d+/(\d+|\*)")


def download(
    url: str,
    dest: str | Path,
    *,
    progress: bool = True,
    chunk: int = 1 << 20,
    timeout: float = 60,
    retries: int = 3,
    backoff: float = 1.0,
) -> Path:
    """Fetch ``url`` to ``dest``, resuming ``dest.part`` if present; returns ``dest``.

    A cut connection is retried up to ``retries`` times, each time from where it stopped, after
    waiting ``backoff`` seconds times the number of cuts so far.
    SectuneError (one line) on an HTTP error, no network, or a download that is not a valid archive.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    cuts = 0
    while True:
        try:
            if _fetch(url, part, progress=progress, chunk=chunk, timeout=timeout):
                break
            reason = "connection closed early"
        except _CUT as e:
            reason = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        cuts += 1
        if cuts > retries:
            raise SectuneError(
                f"download of {url} cut {cuts} times (last: {reason}); run again to resume from {part.name}"
            )
        time.sleep(backoff * cuts)
    try:
        _verify(part, dest.name)
    except SectuneError:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, dest)
    return dest


def _fetch(url: str, part: Path, *, progress: bool, chunk: int, timeout: float) -> bool:
    """One request: append to (206) or restart (200) ``part``. True when the body arrived whole."""
    from tqdm import tqdm

    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "sectune", "Accept-Encoding": "identity"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        e.close()
        if e.code == 416 and have:  # nothing left after byte `have`: already complete
            return True
        raise SectuneError(f"download of {url} failed: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        if isinstance(e.reason, (TimeoutError, socket.timeout, ConnectionResetError)):
            raise e.reason from None  # a timeout or reset while connecting: worth a retry
        raise SectuneError(f"cannot reach {url}: {e.reason}") from None
    except ValueError as e:  # "unknown url type"
        raise SectuneError(f"cannot download {url!r}: {e}") from None
    except _CUT:
        raise
    except (OSError, http.client.HTTPException) as e:  # e.g. a malformed status line
        raise SectuneError(f"cannot reach {url}: {e}") from None
    with response:
        start = 0
        if response.status == 206:
            m = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            start = int(m.group(1)) if m else -1
            if start != have:  # not the range we asked for: start over
                part.unlink(missing_ok=True)
                return False
        length = response.headers.get("Content-Length")
        expected = start + int(length) if length and length.isdigit() else None
        written = start
        with (
            open(part, "ab" if start else "wb") as fh,
            tqdm(
                total=expected,
                initial=start,
                desc=part.name.removesuffix(".part"),
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=sys.stderr,
                disable=not progress,
                leave=False,
                mininterval=0.5,
            ) as bar,
        ):
            while block := response.read(chunk):
                fh.write(block)
                written += len(block)
                bar.update(len(block))
    # urllib returns b"" (no exception) when the server closes before Content-Length bytes.
    return expected is None or written >= expected


def _verify(part: Path, name: str) -> None:
    """The archive must open, so a truncated or HTML error page never replaces a good file."""
    lower = name.lower()
    try:
        if lower.endswith(".zip"):
            if not zipfile.is_zipfile(part):
                raise ValueError("not a zip archive")
            with zipfile.ZipFile(part) as zf:
                zf.infolist()  # the whole central directory, which sits at the very end
        elif lower.endswith(".gz"):
            with gzip.open(part, "rb") as fh:  # header, every block and the trailing CRC
                while fh.read(1 << 20):
                    pass
    except (ValueError, OSError, EOFError, zlib.error, zipfile.BadZipFile) as e:
        raise SectuneError(f"downloaded file is corrupt ({e}); removed it, run again to retry", path=name) from None
