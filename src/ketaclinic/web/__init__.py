"""The FastAPI app: pages, JSON API and their shared plumbing."""
