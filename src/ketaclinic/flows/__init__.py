"""Use cases that span domains: each is one function calling the domains' services in order.

Domains never import flows; the pages, routers and commands that start a use case do.
"""
