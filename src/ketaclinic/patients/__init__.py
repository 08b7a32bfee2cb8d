"""The patient registry: demographics, conditions, medications, allergies, vital signs."""

# Every flush that writes chart vital signs keeps their patients' tallies current: the listener
# is registered with the package, so no import path can write vital signs without it.
from ketaclinic.patients import vitals_tally  # noqa: F401
