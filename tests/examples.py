"""The sample data the repository carries (examples/), for tests."""

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SYNTHEA = EXAMPLES / "synthea"


def synthea_bundle(prefix: str) -> Path:
    """The Synthea bundle whose file name starts with the patient's prefix (e.g. "Bill567")."""
    return next(SYNTHEA.glob(f"{prefix}_*.json"))
