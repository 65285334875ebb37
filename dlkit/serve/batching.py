"""Dynamic batching: concurrent requests to one model answered by one predictor call.

Each served model has one Batcher, a thread that owns the model: requests queue up
while it is busy, and when it is free it takes everything waiting (up to `max_batch`
items), waits `wait` seconds more for stragglers, and answers them all with one call of
`predict(values)`. Under load the batches fill by themselves; a lone request pays at
most `wait`. The models are far more efficient per item in batches (one matrix product
for 32 photos instead of 32), and one thread per model also keeps a model from running
twice at once.
"""

import queue
import threading
import time
from concurrent.futures import Future
from typing import Any, Callable

_STOP = object()


class Batcher:
    def __init__(self, name: str, predict: Callable[[list], list], max_batch: int = 64, wait: float = 0.005):
        self.name, self.predict, self.max_batch, self.wait = name, predict, max_batch, wait
        self.calls = 0  # predictor calls made
        self.items = 0  # items answered by them
        self.requests = 0  # requests answered
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._work, name=f"dlkit-serve-{name}", daemon=True)
        self._thread.start()

    def submit(self, values: list) -> Future:
        """A Future of the records of `values`, in order (one per value)."""
        future: Future = Future()
        self._queue.put((list(values), future))
        return future

    def stats(self) -> dict:
        return {"calls": self.calls, "items": self.items, "requests": self.requests}

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join()

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            pending, stopping = self._gather(first)
            self._answer([(values, future) for values, future in pending if future.set_running_or_notify_cancel()])
            if stopping:
                return

    def _gather(self, first: tuple) -> tuple[list, bool]:
        pending, count = [first], len(first[0])
        deadline = time.monotonic() + self.wait
        while count < self.max_batch:
            try:
                # Whatever queued while the model was busy is taken at once; then a short wait.
                request = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if request is _STOP:
                return pending, True
            pending.append(request)
            count += len(request[0])
        return pending, False

    def _answer(self, pending: list[tuple[list, Future]]) -> None:
        values: list[Any] = [v for request, _ in pending for v in request]
        if not values:
            return
        try:
            records = self.predict(values)
        except BaseException as e:
            if len(pending) > 1:  # each request again on its own: only the one that fails gets the failure
                for request in pending:
                    self._answer([request])
                return
            pending[0][1].set_exception(e)  # the thread goes on
            return
        self.calls += 1
        self.items += len(values)
        self.requests += len(pending)
        start = 0
        for request, future in pending:
            future.set_result(records[start: start + len(request)])
            start += len(request)
