"""Loading the packaged TOML rule tables."""

import tomllib
from functools import cache
from importlib import resources
from typing import Any


@cache
def load_table(name: str) -> dict[str, Any]:
    """The parsed contents of knowledge/data/<name>.toml."""
    text = resources.files("ketaclinic.knowledge").joinpath("data", f"{name}.toml").read_text("utf-8")
    return tomllib.loads(text)
