"""``accelerate launch -m sectune train``: 2 CPU processes (DDP over gloo) train one model, which the main process
alone writes: the same files and tensor shapes as a 1-process run, loadable and predicting."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sectune.testing import BINARY, make_texts

# what says the launcher could not start or connect its processes here (not a sectune failure)
CANNOT_LAUNCH = ("DistNetworkError", "Address already in use", "Connection refused", "gloo", "c10d", "rendezvous")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tensors(model_dir: Path) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    with safe_open(str(model_dir / "model.safetensors"), framework="pt") as f:
        return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}


def test_two_process_training_writes_the_one_process_model(tiny_bert_dir, tmp_path):
    import sectune
    from sectune.api import train

    data = tmp_path / "data.jsonl"
    texts, labels = make_texts(12, classes=BINARY)
    data.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in zip(texts, labels)))
    flags = {"method": "encoder", "model": tiny_bert_dir, "max_steps": 3, "batch_size": 4}

    # --multi_gpu is accelerate's torchrun launcher: on a machine without GPUs (hidden here) each process trains on
    # the CPU and torch.distributed uses gloo. (`--cpu --num_processes 2` alone starts one process: accelerate's
    # multi-CPU mode needs mpirun and a host file.)
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launch += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    launch += ["--main_process_port", str(_free_port()), "-m", "sectune", "train", str(data)]
    launch += [f"--{k.replace('_', '-')}={v}" for k, v in flags.items()] + ["--output", str(tmp_path / "two")]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    env["CUDA_VISIBLE_DEVICES"] = ""  # CPU processes even where GPUs are
    env.pop("TQDM_DISABLE", None)
    result = subprocess.run(launch, capture_output=True, text=True, env=env, timeout=240, check=False)
    if result.returncode != 0 and any(m in result.stderr for m in CANNOT_LAUNCH):
        pytest.skip(f"accelerate cannot start 2 processes here: {result.stderr.strip().splitlines()[-1][:200]}")
    assert result.returncode == 0, result.stderr[-3000:]

    one = train(data, output=tmp_path / "one", verbose=False, **flags).output
    two = tmp_path / "two"
    assert result.stdout.count("model written to") == 1  # the main process alone reports
    assert result.stderr.count("training encoder on") == 1  # and logs
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())
    assert not list(tmp_path.glob(".*.partial"))  # the shared staging folder was swapped in, checkpoints gone
    assert _tensors(two) == _tensors(one)
    record = json.loads((two / "sectune.json").read_text())["run"]["training"]
    assert record.get("processes") == 2, "the launcher started one process, not two"
    assert record["arguments"]["max_steps"] == 3
    assert "processes" not in json.loads((one / "sectune.json").read_text())["run"]["training"]

    model = sectune.load(two, verbose=False)
    assert model.predict(texts[:3]) and model.predict_proba(texts[:3]).shape == (3, 2)
