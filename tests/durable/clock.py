"""Virtual time: orchestrations see a clock that only moves when the driver fires a timer."""
import heapq
import itertools
from datetime import datetime
from typing import Any, Callable


class VirtualClock:
    """Monotonic UTC time; `now` stamps every OrchestratorStarted the driver writes."""

    def __init__(self, start: datetime):
        if start.tzinfo is None:
            raise ValueError("the virtual clock needs an aware UTC start time")
        self.now = start

    def advance_to(self, moment: datetime) -> None:
        self.now = max(self.now, moment)


class TimerQueue:
    """Pending durable timers, earliest first; ties keep scheduling order."""

    def __init__(self) -> None:
        self._heap: list = []
        self._order = itertools.count()

    def __bool__(self) -> bool:
        return bool(self._heap)

    def push(self, fire_at: datetime, payload: Any) -> None:
        heapq.heappush(self._heap, (fire_at, next(self._order), payload))

    def next_time(self) -> datetime:
        return self._heap[0][0]

    def prune(self, alive: Callable[[Any], bool]) -> None:
        """Forget timers nobody can receive any more, so they never move the clock."""
        self._heap = [entry for entry in self._heap if alive(entry[2])]
        heapq.heapify(self._heap)

    def pop_due(self, moment: datetime) -> list:
        due = []
        while self._heap and self._heap[0][0] <= moment:
            due.append(heapq.heappop(self._heap)[2])
        return due
