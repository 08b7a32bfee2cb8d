"""The demo clinic: a deterministic generator of a network, staff and synthetic patients."""
