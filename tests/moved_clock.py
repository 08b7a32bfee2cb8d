"""A monotonic clock a test moves, for code that measures intervals with `time.monotonic`."""


class MovedClock:
    """`time.monotonic` as the test sets it: it reads `now` (seconds)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
