"""The chair: the nurse's page and the JSON API for a treatment session in progress.

They sit above the domains they join (the session record, its controlled-substance stock, the
patient's chart and course) and reach them through `ketaclinic.flows` where a step spans several.
"""
