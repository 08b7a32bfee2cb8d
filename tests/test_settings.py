"""Settings refuse an unsafe secret key outside demo mode."""

import re
from pathlib import Path

import pytest

from ketaclinic.settings import Settings, SettingsError
from tests.cli_helpers import run_cli


@pytest.mark.parametrize("key", ["", "changeme", "secret", "short-key"])
def test_placeholder_or_short_key_is_refused(key: str) -> None:
    with pytest.raises(SettingsError, match="KETACLINIC_SECRET_KEY"):
        Settings(secret_key=key, demo=False).check_safe_to_serve()


def test_demo_mode_runs_without_a_key() -> None:
    settings = Settings(secret_key="", demo=True)
    settings.check_safe_to_serve()
    assert settings.secret_key and not settings.mfa_required_for("prescriber")


def test_real_key_is_accepted_and_mfa_is_required_for_admins_and_prescribers() -> None:
    settings = Settings(secret_key="k" * 40, demo=False)
    settings.check_safe_to_serve()
    assert settings.mfa_required_for("admin") and settings.mfa_required_for("prescriber")
    assert not settings.mfa_required_for("nurse")


def test_defaults() -> None:
    settings = Settings(_env_file=None)
    assert settings.database_url == "sqlite:///./ketaclinic.db"
    assert settings.session_idle_timeout_min == 15


def test_serve_refuses_to_start_with_a_placeholder_key(tmp_path) -> None:
    result = run_cli(f"sqlite:///{tmp_path}/x.db", "serve", "--port", "8799",
                     extra_env={"KETACLINIC_SECRET_KEY": "changeme", "KETACLINIC_DEMO": "0"},
                     timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("error: KETACLINIC_SECRET_KEY is missing or a placeholder")
    assert result.stderr.count("\n") == 1


def _documented_defaults() -> list[tuple[str, str]]:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    return re.findall(r"^\| `([A-Z0-9_]+)` \| `([^`]*)` \|", readme, re.MULTILINE)


def _as_documented(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def test_the_readme_gives_each_setting_its_default() -> None:
    documented = _documented_defaults()
    assert len(documented) >= 15, "the settings table is where the README keeps it"
    fields = Settings.model_fields
    assert [(name, shown) for name, shown in documented
            if name.lower() not in fields
            or _as_documented(fields[name.lower()].default) != shown] == []
