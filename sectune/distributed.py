"""Training under ``accelerate launch`` (or ``torchrun``): one process per device, and only the main one writes.

Every process runs the whole ``sectune train`` (same data, same seeded split, same model); the Trainer spreads
the batches over them (DDP). They share one staging folder for checkpoints, which the main process alone creates,
locks and finally swaps in as the model directory with its reports; the others stop after training, silently.
The launcher's environment (``RANK``, ``WORLD_SIZE``) says which process this is, without initialising anything,
so a plain single-process run never touches torch.distributed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sectune.outputs import staged_dir, staging_path


def world_size() -> int:
    """How many training processes the launcher started (1 without a launcher)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def machines() -> int:
    """How many machines (nodes) the training processes run on: the launcher's world over the processes it started
    on this machine (``LOCAL_WORLD_SIZE``, which torchrun and accelerate set); 1 without a launcher."""
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "0") or 0)
    return max(1, world_size() // local) if local else 1


def layout() -> dict[str, int]:
    """What the run record says of the launch: nothing for one process, else processes (and machines when several)."""
    if world_size() == 1:
        return {}
    return {"processes": world_size(), **({"machines": machines()} if machines() > 1 else {})}


def is_main_process() -> bool:
    """Whether this is the process that writes the model, reports and results (global rank 0)."""
    return int(os.environ.get("RANK", "0") or 0) == 0


def barrier() -> None:
    """Wait for every training process (nothing to wait for in a single-process run)."""
    if world_size() > 1:
        from accelerate import PartialState

        PartialState().wait_for_everyone()


def quiet_followers() -> None:
    """The other processes log warnings and errors only: the main process speaks for the run."""
    if not is_main_process():
        logging.getLogger("sectune").setLevel(logging.WARNING)


@contextmanager
def training_stage(output: str | Path) -> Iterator[Path]:
    """The staging folder of ``output``: the main process's :func:`staged_dir` (locked, swapped in at the end);
    for the other processes the same path, neither locked nor swapped in, since they only checkpoint into it."""
    if is_main_process():
        with staged_dir(output) as stage:
            yield Path(stage)
    else:
        yield staging_path(output)
