"""Shared fixtures: offline mode, a tiny random BERT built here, small labelled data sets, object stores on 127.0.0.1."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # a hidden download must fail loudly, before transformers is imported
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import dataclasses
import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from importlib.util import find_spec
from pathlib import Path

import pytest

from sectune.testing import make_texts  # noqa: F401 - the tests' shared data, imported from here

SHARED = Path(__file__).resolve().parents[2] / "shared"


def save_tiny_encoder(path: Path, architecture: str, **config: object) -> str:
    """A 2-layer, 32-wide random ``architecture`` model (BERT, RoBERTa...) with MiniLM's tokenizer, saved as
    safetensors in ``path``: the architecture is what a test exercises, not what the weights know."""
    import torch
    import transformers
    from transformers import AutoTokenizer

    from sectune.models import default_encoder_path

    tokenizer = AutoTokenizer.from_pretrained(default_encoder_path())
    settings = dict(num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    settings.update(config)
    config_class = getattr(transformers, f"{architecture}Config")
    torch.manual_seed(0)
    model = getattr(transformers, f"{architecture}Model")(
        config_class(vocab_size=tokenizer.vocab_size, hidden_size=32, **settings)
    )
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> str:
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny-bert"), "Bert")


@pytest.fixture(scope="session")
def tiny_roberta_dir(tmp_path_factory) -> str:
    """RoBERTa classifies through its own [CLS] head; its positions start after the padding index."""
    from transformers import AutoTokenizer

    from sectune.models import default_encoder_path

    pad = AutoTokenizer.from_pretrained(default_encoder_path()).pad_token_id
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny-roberta"), "Roberta", pad_token_id=pad)


@pytest.fixture
def labelled_csv(tmp_path) -> Path:
    import csv

    texts, labels = make_texts(10)
    path = tmp_path / "data.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(zip(texts, labels))
    return path


@pytest.fixture
def labelled_jsonl(tmp_path) -> Path:
    texts, labels = make_texts(10)
    path = tmp_path / "data.jsonl"
    path.write_text(
        "".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in zip(texts, labels)), encoding="utf-8"
    )
    return path


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory) -> str:
    """A 2-layer, 64-wide random Llama with SmolLM2's tokenizer, as safetensors (64: bitsandbytes' 4-bit CPU kernels need it)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from sectune.models import resolve_causal_lm

    path = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = AutoTokenizer.from_pretrained(resolve_causal_lm(None))
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return str(path)


# --- object stores: real S3, GCS and Azure Blob APIs on 127.0.0.1, for the Ray engine's URL scans ----------------
BUCKET = "siem-export"
# Azurite's well-known development account and key (published in its documentation; a local emulator's only)
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclasses.dataclass
class ObjectStore:
    """A bucket of a store's API served on 127.0.0.1, which fsspec reaches through the environment variables a user
    would set: a local Ray started after the fixture gives its workers that environment.

    A store that cannot start has ``missing`` (why) instead of failing its fixture, so the Ray cluster, which
    depends on every store, still starts; the test that uses the store skips with the reason."""

    url_prefix: str = ""  # "s3://siem-export/": a test's keys go under it
    upload: Callable[[Path, str], None] | None = None  # (local file, key under url_prefix)
    missing: str = ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, seconds: float = 30.0) -> bool:
    """Whether a server process listens on ``port`` within ``seconds`` (False as soon as it exits)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


@pytest.fixture(scope="session")
def s3_store() -> Iterator[ObjectStore]:
    """S3 (moto's server) through ``AWS_ENDPOINT_URL_S3``, the way boto and s3fs reach MinIO or any S3 look-alike."""
    try:
        import boto3
        import s3fs  # noqa: F401
        from moto.server import ThreadedMotoServer
    except ImportError:
        yield ObjectStore(missing="moto[server] and s3fs are not installed (make test installs them)")
        return
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "sectune-test",
        "AWS_SECRET_ACCESS_KEY": "sectune-test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            s3 = boto3.client("s3")
            s3.create_bucket(Bucket=BUCKET)
            yield ObjectStore(f"s3://{BUCKET}/", lambda local, key: s3.upload_file(str(local), BUCKET, key))
    finally:
        server.stop()


@pytest.fixture(scope="session")
def gs_store() -> Iterator[ObjectStore]:
    """GCS (gcp-storage-emulator, a thread of this process) through ``STORAGE_EMULATOR_HOST``, gcsfs' emulator
    switch; anonymous (``FSSPEC_GS_TOKEN=anon``: no credential search, which would probe the GCE metadata server),
    and without gcsfs' gRPC bucket-type probe, which an emulator never answers (each open would wait 60 s)."""
    if find_spec("gcsfs") is None or find_spec("gcp_storage_emulator") is None:
        yield ObjectStore(missing="gcsfs and gcp-storage-emulator are not installed (make test installs them)")
        return
    import fsspec
    from gcp_storage_emulator.server import create_server

    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=BUCKET)
    server.start()
    env = {
        "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{port}",
        "FSSPEC_GS_TOKEN": "anon",
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",  # read when gcsfs is imported: here, and in each worker
    }
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            patch.setitem(fsspec.config.conf, "gs", {"token": "anon"})  # fsspec read FSSPEC_* when imported
            gcs = fsspec.filesystem("gs")
            yield ObjectStore(f"gs://{BUCKET}/", lambda local, key: gcs.put_file(str(local), f"{BUCKET}/{key}"))
    finally:
        server.stop()


@pytest.fixture(scope="session")
def abfs_store(tmp_path_factory) -> Iterator[ObjectStore]:
    """Azure Blob (Azurite, from npm: make test installs it in .venv/node) through
    ``AZURE_STORAGE_CONNECTION_STRING``, which adlfs reads as Azure's own SDKs and tools do."""
    azurite = shutil.which("azurite-blob", path=str(Path(sys.prefix, "node", "node_modules", ".bin")))
    if find_spec("adlfs") is None or azurite is None or shutil.which("node") is None:
        yield ObjectStore(missing="adlfs or Azurite is not installed (make test installs them, Azurite with npm)")
        return
    import fsspec

    port, folder = free_port(), tmp_path_factory.mktemp("azurite")
    # --skipApiVersionCheck --loose: any azure-storage-blob's API version and headers; no telemetry (it probes Azure)
    options = ["--inMemoryPersistence", "--skipApiVersionCheck", "--loose", "--silent", "--disableTelemetry"]
    with (folder / "azurite.log").open("wb") as log:
        cmd = [azurite, "--blobHost", "127.0.0.1", "--blobPort", str(port), *options]
        proc = subprocess.Popen(cmd, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    try:
        if not wait_for_port(port, proc):
            said = " ".join((folder / "azurite.log").read_text(errors="replace").split())[-300:]
            yield ObjectStore(missing=f"Azurite did not start on 127.0.0.1:{port}: {said}")
            return
        connection = (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
        )
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection)
            blob = fsspec.filesystem("abfs")
            blob.mkdir(BUCKET)
            yield ObjectStore(f"abfs://{BUCKET}/", lambda local, key: blob.put_file(str(local), f"{BUCKET}/{key}"))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def az_store(abfs_store: ObjectStore) -> ObjectStore:
    """Azurite's container by the URL that names the account (``az://container@account.dfs.core.windows.net/``):
    the workers must be handed it whole."""
    return dataclasses.replace(abfs_store, url_prefix=f"az://{BUCKET}@{AZURITE_ACCOUNT}.dfs.core.windows.net/")
