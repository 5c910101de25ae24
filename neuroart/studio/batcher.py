"""`MicroBatcher`: concurrent live readings answered together by one batched model call."""

from __future__ import annotations

import asyncio


class MicroBatcher:
    """Gathers concurrent requests into one call of ``fn(items) -> results`` on a worker thread.

    The first request after a quiet spell runs at once (no added latency for one person
    drawing); requests that arrive while a batch is running wait for the next one, which takes
    them all (up to `max_batch`). Many clients thus share a model call instead of queueing.
    """

    def __init__(self, fn, executor, *, max_batch: int = 64):
        self.fn, self.executor, self.max_batch = fn, executor, max_batch
        self.pending: list = []
        self.task: asyncio.Task | None = None
        self.batches = 0

    async def submit(self, item):
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pending.append((item, future))
        if self.task is None or self.task.done():
            self.task = loop.create_task(self._drain())
        return await future

    async def _drain(self):
        loop = asyncio.get_running_loop()
        while self.pending:
            batch, self.pending = self.pending[: self.max_batch], self.pending[self.max_batch :]
            try:
                results = await loop.run_in_executor(self.executor, self.fn, [item for item, _ in batch])
            except Exception as e:  # noqa: BLE001 - every waiting request gets the error
                for _, future in batch:
                    if not future.done():
                        future.set_exception(e)
                continue
            self.batches += 1
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
