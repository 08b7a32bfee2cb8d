"""Open sessions' reading tallies folded as they grow, by a thread of each server process: a
session a monitor writes to gains a tally part about every second, and a search of its
patient's Observations sums every part (ketaclinic.treatments.reading_tally)."""

import logging
import threading

from ketaclinic import repeating
from ketaclinic.db import reader_session_factory, unit_of_work
from ketaclinic.treatments import reading_tally

log = logging.getLogger(__name__)

# Sessions folded in one transaction: on SQLite a fold holds the one write lock, and 600
# sessions at once held it for 55 to 90 ms, which the monitor listener's next commit would wait
# out; 32 at a time hold it for a few milliseconds each.
SESSIONS_AT_ONCE = 32


class TallyFolder:
    """Folds the crowded sessions among those written to since its last look."""

    def __init__(self, more_than: int = reading_tally.CROWDED_AT) -> None:
        self.more_than = more_than
        # The newest part at the last look. The first look only notes it: a crowded session
        # still written to is found at its next write, and one that is not is folded when it
        # closes, so no look ever reads the whole table.
        self.looked_up_to: int | None = None

    def fold_once(self) -> list[int]:
        """Look for the sessions written to since the last look that are crowded (a read, no
        write lock), and fold their parts, `SESSIONS_AT_ONCE` a transaction; the sessions
        folded."""
        with reader_session_factory()() as db:
            connection = db.connection()
            # Read before the look: a part committed meanwhile is looked at again next time.
            newest = reading_tally.newest_part(connection)
            crowded = [] if self.looked_up_to is None else reading_tally.crowded(
                connection, written_after=self.looked_up_to, more_than=self.more_than)
        self.looked_up_to = newest
        if not crowded:
            return []
        # A session left (another transaction holds it) keeps its parts until its next write
        # brings it back into a look.
        folded = []
        for start in range(0, len(crowded), SESSIONS_AT_ONCE):
            with unit_of_work() as db:
                folded += reading_tally.fold_parts(
                    db.connection(), crowded[start:start + SESSIONS_AT_ONCE])
        return folded


def start_in_background(every_s: float) -> threading.Event:
    """Fold in a daemon thread every interval; set the returned event to stop it. A failed
    pass changes nothing (the parts still sum right), and the next look folds them."""
    return repeating.start_every(every_s, TallyFolder().fold_once, name="tally-folder",
                                  log=log, failure="folding reading tallies failed")
