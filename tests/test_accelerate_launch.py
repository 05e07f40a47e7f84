"""``accelerate launch -m sectune train``: 2 CPU processes (DDP over gloo), on one machine or as two machines on
loopback, train one model, which the main process alone writes: the same files and tensor shapes as a 1-process
run, loadable and predicting."""

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


def _launch(machines: int, argv: list[str]) -> list[subprocess.CompletedProcess]:
    """``accelerate launch`` of 2 processes in all: on one machine, or as 2 machines of one process each (both on
    this host, rank 0 the main one at 127.0.0.1): the multi-node path of the README with a loopback network."""
    # --multi_gpu is accelerate's torchrun launcher: on a machine without GPUs (hidden here) each process trains on
    # the CPU and torch.distributed uses gloo. (`--cpu --num_processes 2` alone starts one process: accelerate's
    # multi-CPU mode needs mpirun and a host file.)
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launch += ["--num_machines", str(machines), "--mixed_precision", "no", "--dynamo_backend", "no"]
    launch += ["--main_process_ip", "127.0.0.1", "--main_process_port", str(_free_port())]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    env["CUDA_VISIBLE_DEVICES"] = ""  # CPU processes even where GPUs are
    env.pop("TQDM_DISABLE", None)
    ranks = [["--machine_rank", str(rank)] for rank in range(machines)] if machines > 1 else [[]]
    started = [
        subprocess.Popen([*launch, *rank, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for rank in ranks
    ]
    results = []
    for process in started:
        try:
            out, err = process.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            for other in started:
                other.kill()
            raise
        results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return results


@pytest.mark.parametrize("machines", [1, 2], ids=["one-machine", "two-machines"])
def test_two_process_training_writes_the_one_process_model(machines, tiny_bert_dir, tmp_path):
    import sectune
    from sectune.api import train

    data = tmp_path / "data.jsonl"
    texts, labels = make_texts(12, classes=BINARY)
    data.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in zip(texts, labels)))
    flags = {"method": "encoder", "model": tiny_bert_dir, "max_steps": 3, "batch_size": 4}
    argv = ["-m", "sectune", "train", str(data), *(f"--{k.replace('_', '-')}={v}" for k, v in flags.items())]
    results = _launch(machines, [*argv, "--output", str(tmp_path / "two")])
    failed = [r for r in results if r.returncode != 0]
    if failed and any(m in r.stderr for r in failed for m in CANNOT_LAUNCH):
        pytest.skip(f"accelerate cannot start 2 processes here: {failed[0].stderr.strip().splitlines()[-1][:200]}")
    assert not failed, failed[0].stderr[-3000:]
    stdout, stderr = "".join(r.stdout for r in results), "".join(r.stderr for r in results)

    one = train(data, output=tmp_path / "one", verbose=False, **flags).output
    two = tmp_path / "two"
    assert stdout.count("model written to") == 1  # the main process alone reports, on whichever machine
    assert stderr.count("training encoder on") == 1  # and logs
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())
    assert not list(tmp_path.glob(".*.partial"))  # the shared staging folder was swapped in, checkpoints gone
    assert _tensors(two) == _tensors(one)
    record = json.loads((two / "sectune.json").read_text())["run"]["training"]
    assert record.get("processes") == 2, "the launcher started one process, not two"
    assert record.get("machines", 1) == machines
    assert record["arguments"]["max_steps"] == 3
    assert "processes" not in json.loads((one / "sectune.json").read_text())["run"]["training"]

    model = sectune.load(two, verbose=False)
    assert model.predict(texts[:3]) and model.predict_proba(texts[:3]).shape == (3, 2)
