"""Micro-batching: concurrent requests for one model share one forward pass.

A model scores 64 texts in little more time than one (one tokenizer call, one matrix product), so the server
does not score requests one by one: each request's texts go into a bounded queue, and one worker per model
takes what arrived within ``wait_ms`` (up to ``max_texts``; no wait when no other request is in flight), runs ``predict_proba`` once in the model's own
thread (the event loop stays free; a model is never used by two threads at once), and hands each request its
rows. The queue is bounded in texts: past ``max_queue`` a request is refused (:class:`Overloaded`, a 503)
instead of waiting behind work the server cannot finish in time.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence, TypeVar

import numpy as np

log = logging.getLogger("sectune.serve")
T = TypeVar("T")


class Overloaded(Exception):
    """The model's queue is full: the caller should retry later (503 with Retry-After)."""


@dataclass
class _Job:
    texts: list[str]
    future: asyncio.Future = field(repr=False)


class MicroBatcher:
    """One model's queue and worker. ``predict``: texts -> (n, labels) probabilities, run in the model's thread."""

    def __init__(
        self,
        predict: Callable[[list[str]], np.ndarray],
        *,
        name: str = "model",
        wait_ms: float = 5.0,
        max_texts: int = 64,
        max_queue: int = 4096,
        on_batch: Callable[[int], None] | None = None,
        expected: Callable[[], int] | None = None,
    ) -> None:
        self.predict, self.name = predict, name
        self.wait_s, self.max_texts, self.max_queue = wait_ms / 1000.0, max_texts, max_queue
        self.on_batch = on_batch
        self.expected = expected  # requests that may still join (the server's in-flight count); None: always wait
        self.pending = 0  # texts queued or being scored: what the bound counts
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sectune-{name}")
        self._queue: asyncio.Queue[_Job] | None = None
        self._worker: asyncio.Task | None = None

    def start(self) -> None:
        """Start the worker on the running loop (the app's lifespan calls this)."""
        self._queue = asyncio.Queue()
        self._worker = asyncio.get_running_loop().create_task(self._run(), name=f"batcher-{self.name}")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def submit(self, texts: Sequence[str]) -> np.ndarray:
        """The texts' probabilities, scored together with whatever else arrives meanwhile."""
        if self._queue is None:
            raise RuntimeError("the batcher is not started")
        if self.pending + len(texts) > self.max_queue:
            raise Overloaded(f"model '{self.name}' has {self.pending} texts waiting (cap {self.max_queue})")
        job = _Job(list(texts), asyncio.get_running_loop().create_future())
        self.pending += len(job.texts)
        self._queue.put_nowait(job)
        try:
            return await job.future
        finally:
            if not job.future.done():  # the caller gave up (timeout, disconnect): the worker skips the job
                job.future.cancel()

    async def run_in_model_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """Run other work on the model (``explain``) in its thread, so it never races a forward pass."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def _gather(self) -> list[_Job]:
        """The first job, and any that arrive within ``wait_s`` of it, up to ``max_texts`` texts."""
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        jobs = [await self._queue.get()]
        count = len(jobs[0].texts)
        deadline = loop.time() + self.wait_s
        while count < self.max_texts:
            if self._queue.empty():
                if self.expected is not None and len(jobs) >= self.expected():
                    break  # nobody else is on the way: a lone request does not wait for company
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self._queue.get(), left)
                except asyncio.TimeoutError:
                    break
            else:
                job = self._queue.get_nowait()
            jobs.append(job)
            count += len(job.texts)
        return jobs

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = await self._gather()
            live = [job for job in jobs if not job.future.done()]  # a cancelled request costs no forward pass
            self.pending -= sum(len(job.texts) for job in jobs if job not in live)
            if not live:
                continue
            texts = [text for job in live for text in job.texts]
            try:
                proba = await loop.run_in_executor(self.executor, self.predict, texts)
                if self.on_batch is not None:
                    self.on_batch(len(texts))
            except asyncio.CancelledError:
                self._settle(live, None, asyncio.CancelledError())
                raise
            except Exception as exc:  # noqa: BLE001 - the requests get the error; the worker lives on
                self._settle(live, None, exc)
                continue
            self._settle(live, proba, None)

    def _settle(self, jobs: list[_Job], proba: np.ndarray | None, error: BaseException | None) -> None:
        start = 0
        for job in jobs:
            n = len(job.texts)
            self.pending -= n
            if not job.future.done():
                if error is not None:
                    job.future.set_exception(error)
                else:
                    job.future.set_result(proba[start : start + n])
            start += n
