"""Measures: scored questionnaires and ratings, their links, alerts, reviews and outcomes."""

# Every session that writes a measure keeps its course's outcome summary current: the listener
# is registered with the package, so no import path can write a measure without it.
from ketaclinic.measures import course_outcomes  # noqa: F401
