"""The garbage collector set for a long-running process (a server process, the MLLP listener):
what was built at start (modules, mappers, routes) moved out of its sight, and young
collections made rarer.

A full collection walks every object the collector tracks. In the MLLP listener at 3,000
readings a second one came every seven seconds and held the interpreter for about 120 ms,
a pause every message then in flight waited through; with start-up's objects frozen, a
collection walks only what the work since allocated."""

import gc

from sqlalchemy.orm import configure_mappers

# A young-generation collection every 700 allocations (CPython's default) ran the collector
# about once per request; a server process's garbage is short-lived request objects.
YOUNG_COLLECTION_EVERY = 10_000


def settle_after_start() -> None:
    """Finish what is built lazily at start (the mappers), collect once, freeze the survivors
    out of later collections and make young collections rarer."""
    configure_mappers()
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, middle, old)
