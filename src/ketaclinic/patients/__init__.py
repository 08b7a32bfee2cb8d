"""The patient registry: demographics, conditions, medications, allergies, vital signs."""
