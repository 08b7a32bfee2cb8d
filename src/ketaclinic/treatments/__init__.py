"""Treatment sessions: check-in, dose, vital signs from every source, alarms, discharge."""
