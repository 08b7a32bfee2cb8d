"""Appointments, chairs and staff hours, reminders and calendar feeds."""
