"""``sectune serve``: every route on a real uvicorn server (127.0.0.1, a free port), the faults a network service
meets (bad bodies, caps, tokens, disconnects, bursts), micro-batching, the CLI, and the page in a headless browser."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from sectune.errors import SectuneError  # noqa: E402
from sectune.serving.batching import MicroBatcher  # noqa: E402
from sectune.serving.security import Limits, check_bind, token_ok  # noqa: E402

CVE = Path(__file__).parent / "fixtures" / "cve"
TOKEN = "t0ken-for-the-serve-tests-0123456789"
SQL = "SQL injection in the login form allows remote attackers to run arbitrary SQL query via the user parameter"
OBFUSCATED = "powershell -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAKQA="

pytestmark = pytest.mark.timeout(120)


# --- models and servers ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory) -> dict[str, Path]:
    """A CWE model (tfidf-logreg, task cwe) and a command-line detector (shell-features, task cmdline), trained
    here through the real pipeline on small generated sets."""
    import random

    from sectune.api import train
    from sectune.tasks.cmdline.dataset import build_cmdline_dataset

    root = tmp_path_factory.mktemp("serve-models")
    build_cmdline_dataset(n=300, output=root / "cmd.jsonl", progress=False)
    train(root / "cmd.jsonl", output=root / "cmd", task="cmdline", method="shell-features", verbose=False)
    rng = random.Random(0)
    words = {
        "CWE-79": ["cross-site", "scripting", "script", "html", "browser", "xss", "javascript", "page"],
        "CWE-89": ["sql", "injection", "query", "database", "login", "parameter", "select", "union"],
        "CWE-787": ["buffer", "overflow", "write", "memory", "heap", "bounds", "stack", "crash"],
    }
    with (root / "cve.jsonl").open("w", encoding="utf-8") as handle:
        for label, pool in words.items():
            for i in range(20):
                text = " ".join(rng.choice(pool) for _ in range(10))
                handle.write(json.dumps({"description": text, "cwe": [label], "published": f"2024-01-{i + 1:02d}"}))
                handle.write("\n")
    train(
        root / "cve.jsonl",
        output=root / "cwe",
        task="cwe",
        method="tfidf-logreg",
        split="stratified",
        min_df=1,
        verbose=False,
    )
    return {"cwe": root / "cwe", "cmd": root / "cmd"}


class Running:
    """A uvicorn server in a thread of this process, on 127.0.0.1 and a free port."""

    def __init__(self, app) -> None:
        import uvicorn

        from sectune.serving.cli import listen

        self.sock = listen("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "the server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def start(models, **kwargs) -> Running:
    from sectune.serving.app import create_app

    return Running(create_app(models, **kwargs))


@pytest.fixture(scope="module")
def loaded(model_dirs):
    from sectune.methods.base import load

    return {name: load(path, verbose=False) for name, path in model_dirs.items()}


@pytest.fixture(scope="module")
def url(loaded) -> str:
    from sectune.serving.models import serve_model

    running = start([serve_model("cwe", loaded["cwe"]), serve_model("cmd", loaded["cmd"])], limits=Limits(max_batch=64))
    yield running.url
    running.stop()


@pytest.fixture(scope="module")
def token_url(loaded) -> str:
    from sectune.serving.models import serve_model

    running = start([serve_model("cmd", loaded["cmd"])], token=TOKEN)
    yield running.url
    running.stop()


class Slow:
    """A trained model whose forward pass takes ``seconds`` (or raises): what a busy or broken model looks like."""

    def __init__(self, clf, seconds: float = 0.0, error: Exception | None = None) -> None:
        self.clf, self.seconds, self.error = clf, seconds, error

    def __call__(self, texts):
        time.sleep(self.seconds)
        if self.error is not None:
            raise self.error
        return self.clf.predict_proba(texts)


@pytest.fixture(scope="module")
def slow_url(model_dirs) -> str:
    """max 2 requests in flight, 4 texts queued per model, a forward pass of 0.4 s; and a model that crashes."""
    from sectune.methods.base import load
    from sectune.serving.models import serve_model

    slow, broken = load(model_dirs["cmd"], verbose=False), load(model_dirs["cmd"], verbose=False)
    slow.predict_proba = Slow(load(model_dirs["cmd"], verbose=False), 0.4)
    broken.predict_proba = Slow(slow, error=RuntimeError("boom: /secret/path in a traceback"))
    limits = Limits(max_concurrency=2, max_queue=4, max_batch=4, batch_wait_ms=0, timeout_s=10)
    running = start([serve_model("slow", slow), serve_model("broken", broken)], limits=limits)
    yield running.url
    running.stop()


def alive(base: str) -> None:
    """The server still answers: its liveness probe and a real prediction."""
    assert httpx.get(f"{base}/v2/health/live").json() == {"live": True}
    with httpx.Client(base_url=base) as client:
        model = "slow" if "slow" in client.get("/models").text else "cmd"
        reply = client.post("/scan", json={"lines": ["ls -la"], "model": model}, timeout=20)
        assert reply.status_code == 200, reply.text


# --- the Open Inference Protocol v2 -----------------------------------------------------------------------------
def test_health_and_metadata(url, loaded) -> None:
    assert httpx.get(f"{url}/v2/health/live").json() == {"live": True}
    assert httpx.get(f"{url}/v2/health/ready").json() == {"ready": True}
    assert httpx.get(f"{url}/v2").json()["name"] == "sectune"
    assert httpx.get(f"{url}/v2/models/cmd/ready").json() == {"name": "cmd", "ready": True}
    meta = httpx.get(f"{url}/v2/models/cmd").json()
    assert meta["labels"] == ["0", "1"] and meta["task"] == "cmdline" and meta["method"] == "shell-features"
    assert meta["threshold"] == pytest.approx(loaded["cmd"].threshold_)
    assert meta["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
    cwe = httpx.get(f"{url}/v2/models/cwe").json()
    assert cwe["task"] == "cwe" and cwe["threshold"] is None and set(cwe["labels"]) == {"CWE-79", "CWE-89", "CWE-787"}
    missing = httpx.get(f"{url}/v2/models/nope/ready")
    assert missing.status_code == 404 and "nope" in missing.json()["error"]
    listed = httpx.get(f"{url}/models").json()
    assert listed["default"] == "cwe" and [m["name"] for m in listed["models"]] == ["cwe", "cmd"]


def test_v2_infer(url, loaded) -> None:
    request = {
        "id": "r1",
        "inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["ls -la", OBFUSCATED]}],
    }
    reply = httpx.post(f"{url}/v2/models/cmd/infer", json=request)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["model_name"] == "cmd" and body["id"] == "r1"
    out = {o["name"]: o for o in body["outputs"]}
    expected = loaded["cmd"].predict_proba(["ls -la", OBFUSCATED])
    assert out["probabilities"]["shape"] == [2, 2]
    assert np.allclose(np.array(out["probabilities"]["data"]).reshape(2, 2), expected, atol=1e-5)
    assert out["label"]["data"] == loaded["cmd"].predict(["ls -la", OBFUSCATED])
    assert out["score"]["data"] == pytest.approx(expected[:, 1].tolist(), abs=1e-5)

    nested = {
        "inputs": [{"name": "t", "shape": [1, 1], "datatype": "BYTES", "data": [[SQL]]}],
        "outputs": [{"name": "label"}],
    }
    body = httpx.post(f"{url}/v2/models/cwe/infer", json=nested).json()
    assert body["outputs"] == [{"name": "label", "datatype": "BYTES", "shape": [1], "data": ["CWE-89"]}]

    bad = [
        ({"inputs": [{"name": "t", "shape": [3], "datatype": "BYTES", "data": ["a"]}]}, 400, "shape"),
        ({"inputs": [{"name": "t", "shape": [1], "datatype": "FP32", "data": [1.0]}]}, 400, "BYTES"),
        ({"inputs": [{"name": "t", "shape": [1], "datatype": "BYTES", "data": [1]}]}, 422, "string"),
        (
            {"inputs": [{"name": "t", "shape": [1], "datatype": "BYTES", "data": ["a"]}], "outputs": [{"name": "x"}]},
            400,
            "output",
        ),
        ({"inputs": []}, 400, "one input"),
        ({"inputs": "text"}, 422, "inputs"),
    ]
    for request, status, word in bad:
        reply = httpx.post(f"{url}/v2/models/cmd/infer", json=request)
        assert reply.status_code == status, (request, reply.text)
        assert word in reply.json()["error"]


# --- plain JSON -------------------------------------------------------------------------------------------------
def test_predict_gives_cwe_names_and_links(url) -> None:
    reply = httpx.post(f"{url}/predict", json={"texts": [SQL, "heap buffer overflow write"], "top_k": 2})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["model"] == "cwe"  # the first model served is the default
    first = body["results"][0]["predictions"]
    assert len(first) == 2 and first[0]["label"] == "CWE-89" and "SQL" in first[0]["name"]
    assert first[0]["url"] == "https://cwe.mitre.org/data/definitions/89.html"
    assert body["results"][1]["predictions"][0]["label"] == "CWE-787"
    # a binary model through /predict: the decision at its threshold, as sectune predict gives it
    cmd = httpx.post(f"{url}/predict", json={"texts": ["ls"], "model": "cmd"}).json()["results"][0]
    assert cmd["decision"] in ("0", "1") and "url" not in cmd["predictions"][0]


def test_predict_reads_cve_json5_records(url) -> None:
    records = [json.loads((CVE / name).read_text()) for name in ("CVE-2024-0001.json", "CVE-2024-0005.json")]
    reply = httpx.post(f"{url}/predict", json={"records": records})
    assert reply.status_code == 200, reply.text
    first, rejected = reply.json()["results"]
    assert first["id"] == "CVE-2024-0001" and first["stated"] == ["CWE-89"]
    assert first["predictions"][0]["label"] == "CWE-89"
    assert rejected == {"id": "CVE-2024-0005", "skipped": "rejected"}
    broken = httpx.post(f"{url}/predict", json={"records": [{"cveMetadata": {}}]})
    assert broken.status_code == 422 and "records[0]" in broken.json()["error"]


def test_scan_scores_explains_and_decides(url, loaded) -> None:
    lines = ["ls -la", OBFUSCATED]
    reply = httpx.post(f"{url}/scan", json={"lines": lines, "top": 3})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    clf = loaded["cmd"]
    assert (
        body["model"] == "cmd" and body["threshold"] == pytest.approx(clf.threshold_) and body["positive_label"] == "1"
    )
    scores = clf.predict_proba(lines)[:, 1]
    for result, score in zip(body["results"], scores):
        assert result["score"] == pytest.approx(score, abs=1e-5)
        assert result["alert"] == bool(score >= clf.threshold_) and result["decision"] == (
            "1" if result["alert"] else "0"
        )
        assert len(result["explanation"]) == 3 and {"what", "value", "contribution"} <= set(result["explanation"][0])
        assert "technique" in result
    assert body["results"][1]["alert"] and "normalized" in body["results"][1]
    plain = httpx.post(f"{url}/scan", json={"lines": lines, "explain": False}).json()["results"][0]
    assert "explanation" not in plain
    multi = httpx.post(f"{url}/scan", json={"lines": lines, "model": "cwe"})
    assert multi.status_code == 422 and "binary" in multi.json()["error"]


def test_metrics_and_page(url) -> None:
    httpx.post(f"{url}/predict", json={"texts": []})
    text = httpx.get(f"{url}/metrics").text
    assert 'sectune_requests_total{method="POST",route="/predict",status="200"}' in text
    assert "sectune_request_seconds_bucket" in text and "sectune_batch_texts_bucket" in text
    assert "sectune_rejected_total" in text or "sectune_texts_total" in text
    page = httpx.get(f"{url}/")
    assert (
        page.status_code == 200
        and "<textarea" in page.text
        and "script-src 'self'" in page.headers["content-security-policy"]
    )
    assert "textContent" in httpx.get(f"{url}/static/app.js").text
    assert httpx.get(f"{url}/static/index.html").status_code == 404  # only the listed files
    assert httpx.get(f"{url}/static/..%2f..%2fpyproject.toml").status_code == 404
    assert httpx.get(f"{url}/docs").status_code == 404


# --- faults: each gets its status and a JSON error, and the server answers the next request -----------------------
@pytest.mark.parametrize(
    "body, status, word",
    [
        (b'{"texts": ["a"', 400, "not valid JSON"),
        (b"", 400, "empty"),
        (b"\xff\xfe", 400, "not valid JSON"),
        (b'["a"]', 422, "JSON object"),
        (b'{"texts": [1, 2]}', 422, "texts[0]"),
        (b'{"texts": "one text"}', 422, "texts"),
        (b'{"texts": ["a"], "top_k": "3"}', 422, "top_k"),
        (b'{"texts": ["a"], "top_k": 0}', 422, "top_k"),
        (b'{"texts": ["a"], "colour": 1}', 422, "colour"),
        (b'{"texts": []}', 422, "empty"),
        (b'{"texts": ["a"], "records": []}', 422, "not both"),
        (b'{"texts": ["a"], "model": "../../etc"}', 404, "no model"),
    ],
)
def test_bad_requests(url, body, status, word) -> None:
    reply = httpx.post(f"{url}/predict", content=body, headers={"content-type": "application/json"})
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert word in error and "Traceback" not in error
    alive(url)


def test_caps_give_413(url) -> None:
    many = httpx.post(f"{url}/predict", json={"texts": ["ls"] * 10_000})
    assert many.status_code == 413 and "10,000" in many.json()["error"]
    huge = httpx.post(f"{url}/predict", content=b'{"texts": ["' + b"a" * (2 << 20) + b'"]}')
    assert huge.status_code == 413 and "cap" in huge.json()["error"]

    def chunks():  # no Content-Length: counted as it arrives
        yield b'{"texts": ["'
        for _ in range(40):
            yield b"a" * 65536
        yield b'"]}'

    chunked = httpx.post(f"{url}/predict", content=chunks())
    assert chunked.status_code == 413 and "at least" in chunked.json()["error"]
    long_text = httpx.post(f"{url}/scan", json={"lines": ["a" * 100_001]})
    assert long_text.status_code == 413
    assert "sectune_rejected_total" in httpx.get(f"{url}/metrics").text
    alive(url)


def test_token(token_url) -> None:
    good = {"authorization": f"Bearer {TOKEN}"}
    for headers in (
        {},
        {"authorization": "Bearer wrong"},
        {"authorization": TOKEN},
        {"authorization": f"Basic {TOKEN}"},
    ):
        reply = httpx.post(f"{token_url}/scan", json={"lines": ["ls"]}, headers=headers)
        assert reply.status_code == 401 and reply.json() == {"error": "missing or wrong bearer token"}
        assert reply.headers["www-authenticate"].startswith("Bearer")
    assert httpx.get(f"{token_url}/metrics").status_code == 401
    assert httpx.get(f"{token_url}/v2/models/cmd").status_code == 401
    assert httpx.post(f"{token_url}/scan", json={"lines": ["ls"]}, headers=good).status_code == 200
    assert (
        httpx.post(
            f"{token_url}/scan", json={"lines": ["ls"]}, headers={"authorization": f"bearer {TOKEN}"}
        ).status_code
        == 200
    )
    # the probes and the page stay open: an orchestrator and a browser reach them without the token
    assert httpx.get(f"{token_url}/v2/health/ready").status_code == 200
    assert httpx.get(f"{token_url}/").status_code == 200


def test_token_and_bind_rules() -> None:
    assert token_ok(f"Bearer {TOKEN}", TOKEN) and not token_ok(None, TOKEN) and not token_ok("Bearer ", TOKEN)
    check_bind("127.0.0.1", None, False)
    check_bind("::1", None, False)
    check_bind("localhost", None, False)
    with pytest.raises(SectuneError, match="--token"):
        check_bind("0.0.0.0", None, False)
    with pytest.raises(SectuneError, match="--token"):
        check_bind("example.internal", None, False)
    check_bind("0.0.0.0", TOKEN, False)
    check_bind("0.0.0.0", None, True)
    with pytest.raises(SectuneError, match="16 characters"):
        check_bind("127.0.0.1", "short", False)
    with pytest.raises(SectuneError, match="max-batch"):
        Limits(max_batch=0)


def test_listening_socket_is_tcp_so_responses_are_not_delayed() -> None:
    from sectune.serving.cli import listen

    sock = listen("127.0.0.1", 0)  # proto 0 would make asyncio skip TCP_NODELAY: 40 ms per keep-alive response
    try:
        assert sock.proto == socket.IPPROTO_TCP and sock.getsockname()[1] > 0
        with pytest.raises(SectuneError, match="cannot listen"):
            listen("127.0.0.1", sock.getsockname()[1])
    finally:
        sock.close()


def test_client_that_disconnects(url) -> None:
    host, port = url.removeprefix("http://").split(":")
    # a body cut short: the connection closes with 5 of 1,000 promised bytes sent
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            b'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"tex'
        )
    # a whole request, then gone before the answer
    body = json.dumps({"texts": [SQL] * 50}).encode()
    for _ in range(5):
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    # half a request line
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"POST /pre")
    time.sleep(0.3)
    alive(url)


def test_burst_past_the_concurrency_cap_is_429(slow_url) -> None:
    def one(_):
        return httpx.post(f"{slow_url}/scan", json={"lines": ["ls"], "model": "slow", "explain": False}, timeout=20)

    with ThreadPoolExecutor(12) as pool:
        replies = list(pool.map(one, range(12)))
    codes = [r.status_code for r in replies]
    assert set(codes) <= {200, 429} and codes.count(200) >= 1 and codes.count(429) >= 1, codes
    busy = next(r for r in replies if r.status_code == 429)
    assert busy.headers["retry-after"] == "1" and "busy" in busy.json()["error"]
    assert 'sectune_rejected_total{reason="busy"}' in httpx.get(f"{slow_url}/metrics").text
    alive(slow_url)


def test_full_queue_is_503(slow_url) -> None:
    request = {"inputs": [{"name": "t", "shape": [4], "datatype": "BYTES", "data": ["ls"] * 4}]}
    with httpx.Client(base_url=slow_url, timeout=20) as client, ThreadPoolExecutor(1) as pool:
        first = pool.submit(client.post, "/v2/models/slow/infer", json=request)
        deadline = time.monotonic() + 10
        while "sectune_in_flight 1.0" not in client.get("/metrics").text:  # its 4 texts now fill the queue
            assert time.monotonic() < deadline
        second = client.post("/v2/models/slow/infer", json=request)  # within the 2 slots, past the queue of 4
        assert first.result().status_code == 200
    assert second.status_code == 503 and "overloaded" in second.json()["error"], second.text
    assert second.headers["retry-after"] == "1"
    alive(slow_url)


def test_a_crashing_model_is_a_json_500_without_details(slow_url) -> None:
    reply = httpx.post(f"{slow_url}/predict", json={"texts": ["ls"], "model": "broken"})
    assert reply.status_code == 500
    assert reply.json() == {"error": "internal error (the server log has the details)"}
    alive(slow_url)


# --- micro-batching ----------------------------------------------------------------------------------------------
def test_micro_batcher_merges_concurrent_requests_and_splits_results() -> None:
    calls: list[list[str]] = []

    def predict(texts):
        calls.append(list(texts))
        return np.array([[float(len(t)), 1.0] for t in texts])

    async def main():
        batcher = MicroBatcher(predict, wait_ms=50, max_texts=100, max_queue=100)
        batcher.start()
        try:
            jobs = [batcher.submit(["x" * i] * (i % 3 + 1)) for i in range(10)]
            results = await asyncio.gather(*jobs)
            gone = asyncio.ensure_future(batcher.submit(["cancelled"]))
            await asyncio.sleep(0)
            gone.cancel()
            after = await batcher.submit(["after"])
            return results, after, batcher.pending
        finally:
            await batcher.stop()

    results, after, pending = asyncio.run(main())
    assert len(calls[0]) == sum(i % 3 + 1 for i in range(10))  # ten requests, one forward pass
    for i, rows in enumerate(results):
        assert rows.shape == (i % 3 + 1, 2) and (rows[:, 0] == i).all()
    assert ["cancelled"] not in calls and after.tolist() == [[5.0, 1.0]] and pending == 0


# --- the command ---------------------------------------------------------------------------------------------------
def test_cli_refuses_an_open_bind_without_a_token(model_dirs, capsys) -> None:
    from sectune.cli import main

    assert main(["serve", str(model_dirs["cmd"]), "--host", "0.0.0.0"]) == 2
    assert "--token" in capsys.readouterr().err
    assert main(["serve", "/nonexistent/model", "--port", "0"]) == 2


def test_cli_serves_and_logs_without_bodies(model_dirs) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SECTUNE_SERVE_TOKEN": TOKEN}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sectune", "serve", f"c={model_dirs['cmd']}", "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stderr.readline()
        found = re.search(r"on (http://127\.0\.0\.1:\d+)/ \(bearer token required\)", line)
        assert found, line
        base = found.group(1)
        reply = httpx.post(
            f"{base}/scan", json={"lines": ["echo MARKER-NOT-LOGGED"]}, headers={"authorization": f"Bearer {TOKEN}"}
        )
        assert reply.status_code == 200, reply.text
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    logged = [json.loads(x) for x in err.splitlines() if x.startswith("{")]
    assert any(entry["route"] == "/scan" and entry["status"] == 200 for entry in logged), err
    assert "MARKER-NOT-LOGGED" not in err and TOKEN not in err


# --- the page in a browser -----------------------------------------------------------------------------------------
def test_page_in_a_headless_browser(url) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.skip("chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver_path), options=options)
    try:
        wait = WebDriverWait(driver, 20)
        driver.get(url + "/")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#cve-model option"))
        driver.find_element(By.ID, "cve-text").send_keys(SQL)
        driver.find_element(By.ID, "cve-submit").click()
        row = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#cve-results .prediction a")))
        assert row.text == "CWE-89"
        assert row.get_attribute("href") == "https://cwe.mitre.org/data/definitions/89.html"
        assert "SQL" in driver.find_element(By.CSS_SELECTOR, "#cve-results .prediction").text

        driver.find_element(By.ID, "tab-cmd").click()
        driver.find_element(By.ID, "cmd-text").send_keys("ls -la\n" + OBFUSCATED)
        driver.find_element(By.ID, "cmd-submit").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#cmd-results .verdict")) == 2)
        verdicts = [v.text for v in driver.find_elements(By.CSS_SELECTOR, "#cmd-results .verdict")]
        assert verdicts[1] == "ALERT", verdicts
        assert "contribution" in driver.find_element(By.ID, "cmd-results").text
    finally:
        driver.quit()
