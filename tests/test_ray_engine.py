"""``--engine ray``: scan and predict scored by Ray Data actors give the local run's output, order and summary."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from sectune.cli import main
from sectune.errors import SectuneError
from sectune.scan import scan
from tests import test_scan
from tests.test_scan import BENIGN, LOGS, OBFUSCATED

model_dir = test_scan.model_dir  # the same small trained detector as the local scan's tests

SUMMARY_FIELDS = (
    "path",
    "format",
    "threshold",
    "label",
    "lines_read",
    "command_lines",
    "alerts",
    "skipped",
    "unparseable",
    "examples",
    "skipped_examples",
)


@pytest.fixture(scope="module")
def ray_cluster(s3_store, gs_store, abfs_store):
    """One local Ray for the module (starting one costs seconds): 2 CPUs, so 2 scoring actors. Started after the
    object stores (tests/conftest.py), so that its workers inherit their endpoints and credentials."""
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'sectune[ray]')")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_USAGE_STATS_ENABLED", "0")  # else Ray probes cloud metadata addresses and reports usage
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def both(model_dir: Path, path: str, out: Path, **kw):
    """The local scan and the Ray scan (2 actors, small batches) of ``path``: (summaries, alert texts)."""
    local = scan(model_dir, path, output=out / "local.jsonl", **kw)
    remote = scan(model_dir, path, output=out / "ray.jsonl", engine="ray", concurrency=2, batch_size=2, **kw)
    return (local, remote), ((out / "local.jsonl").read_text(), (out / "ray.jsonl").read_text())


def same_summary(a, b) -> None:
    assert {f: getattr(a, f) for f in SUMMARY_FIELDS} == {f: getattr(b, f) for f in SUMMARY_FIELDS}
    a_text, b_text = a.text(), b.text().replace(str(b.output), str(a.output))
    assert a_text.split("; ")[0] == b_text.split("; ")[0]  # the same words, timing aside
    assert a_text.splitlines()[1:] == b_text.splitlines()[1:]


def test_ray_scan_of_one_log_equals_the_local_scan(ray_cluster, model_dir, tmp_path):
    (local, remote), (a, b) = both(model_dir, str(LOGS / "audit.log"), tmp_path, threshold=0.0)
    assert a == b and a.count("\n") == 3  # byte for byte: same alerts, extras and order
    same_summary(local, remote)
    assert remote.unparseable == 2 and remote.skipped["not process creation"] == 1


def test_ray_scan_of_a_glob_and_a_url_keys_alerts_by_file_in_order(ray_cluster, model_dir, tmp_path):
    import json

    logs = tmp_path / "logs"
    logs.mkdir()
    for name in ("commands.txt", "process.jsonl", "sysmon_lines.xml"):
        shutil.copy(LOGS / name, logs / name)
    (local, remote), (a, b) = both(model_dir, str(logs / "*"), tmp_path, threshold=0.0)
    assert a == b
    same_summary(local, remote)
    alerts = [json.loads(line) for line in a.splitlines()]
    keys = [(Path(x["file"]).name, x["line"]) for x in alerts]
    assert keys == sorted(keys) and {k[0] for k in keys} == {"commands.txt", "process.jsonl", "sysmon_lines.xml"}
    assert local.lines_read == 9 + 6 + sum(1 for _ in open(LOGS / "process.jsonl"))

    # an fsspec URL (file:// here; s3://, gs://, ... alike): the workers read it, the alerts name the URL
    url = scan(model_dir, f"file://{logs}/*", output=tmp_path / "url.jsonl", threshold=0.0, engine="ray")
    from_url = [json.loads(line) for line in (tmp_path / "url.jsonl").read_text().splitlines()]
    assert [x.pop("file") for x in from_url] == [f"file://{x.pop('file')}" for x in alerts]
    assert from_url == alerts and url.lines_read == local.lines_read


@pytest.mark.parametrize("store", ["s3", "gs", "abfs", "az"])
def test_ray_scan_reads_a_cloud_bucket_like_a_local_folder(store, ray_cluster, model_dir, tmp_path, request):
    """Each store's real API on 127.0.0.1 (moto, gcp-storage-emulator, Azurite), read by its fsspec package in the
    workers: the alerts and the summary are the local folder's, each alert naming its object's URL as spelt."""
    import gzip
    import json

    bucket = request.getfixturevalue(f"{store}_store")
    if bucket.missing:
        pytest.skip(bucket.missing)
    logs = tmp_path / "logs"
    logs.mkdir()
    for name in ("commands.txt", "process.jsonl.gz"):
        source = LOGS / name.removesuffix(".gz")
        if name.endswith(".gz"):  # a compressed object: read by its name, as a local .gz is
            (logs / name).write_bytes(gzip.compress(source.read_bytes()))
        else:
            shutil.copy(source, logs / name)
        bucket.upload(logs / name, f"2026-12/{name}")
    folder = f"{bucket.url_prefix}2026-12/"
    local = scan(model_dir, str(logs / "*"), output=tmp_path / "local.jsonl", threshold=0.0)
    remote = scan(model_dir, f"{folder}*", output=tmp_path / "remote.jsonl", threshold=0.0, engine="ray", concurrency=1)
    local_alerts = [json.loads(line) for line in (tmp_path / "local.jsonl").read_text().splitlines()]
    remote_alerts = [json.loads(line) for line in (tmp_path / "remote.jsonl").read_text().splitlines()]
    assert [x.pop("file") for x in remote_alerts] == [folder + Path(x.pop("file")).name for x in local_alerts]
    assert remote_alerts == local_alerts and len(remote_alerts) >= 6
    assert (remote.lines_read, remote.alerts, remote.unparseable) == (local.lines_read, local.alerts, local.unparseable)
    with pytest.raises(SectuneError, match="no file matches"):
        scan(model_dir, f"{bucket.url_prefix}2025-*/*", engine="ray")


@pytest.mark.parametrize(
    ("url", "package"), [("s3://b/*.gz", "s3fs"), ("gs://b/x.log", "gcsfs"), ("az://c/*", "adlfs")]
)
def test_a_url_without_its_fsspec_package_says_what_to_install(model_dir, monkeypatch, url, package):
    """Before any worker starts: a worker's ImportError would come out as a Ray traceback."""
    from importlib import import_module

    pytest.importorskip("ray", reason="ray is not installed (pip install 'sectune[ray]')")
    protocol = url.split("://")[0]
    imported = import_module("fsspec.registry")._registry  # the file systems fsspec has imported so far
    monkeypatch.setitem(sys.modules, package, None)  # import fails, as where it is not installed
    monkeypatch.delitem(imported, protocol, raising=False)
    with pytest.raises(SectuneError) as caught:
        scan(model_dir, url, engine="ray")
    assert str(caught.value) == f"{url}: reading {protocol}:// needs {package}: pip install {package}"


def test_ray_predict_equals_the_local_predict(ray_cluster, model_dir, tmp_path, capsys):
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(BENIGN + OBFUSCATED) + "\n")
    local, remote = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    assert main(["predict", str(model_dir), str(texts), "--output", str(local), "--quiet"]) == 0
    argv = ["predict", str(model_dir), str(texts), "--output", str(remote), "--quiet", "--batch-size", "3"]
    assert main([*argv, "--engine", "ray", "--concurrency", "2"]) == 0
    assert remote.read_text() == local.read_text() and len(local.read_text().splitlines()) == 17


def test_bad_engine_input_is_one_line(model_dir, tmp_path):
    with pytest.raises(SectuneError, match="--engine ray reads files, not stdin"):
        scan(model_dir, "-", engine="ray")
    with pytest.raises(SectuneError, match="needs --engine ray"):
        scan(model_dir, "s3://bucket/logs/*.gz")
    with pytest.raises(SectuneError, match="no file matches"):
        scan(model_dir, str(tmp_path / "*.nothing"))


def test_without_ray_the_engine_says_how_to_install_it(model_dir, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails, as where it is not installed
    assert main(["scan", str(model_dir), str(LOGS / "commands.txt"), "--engine", "ray"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'sectune[ray]'" in err and "Traceback" not in err
    assert main(["predict", str(model_dir), str(LOGS / "commands.txt"), "--engine", "ray"]) == 2
    assert "pip install 'sectune[ray]'" in capsys.readouterr().err
