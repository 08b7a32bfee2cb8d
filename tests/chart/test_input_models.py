"""Every input refuses unknown fields, and every free-text field refuses control characters;
an input of numbers and times only may skip the text check, so none of them carries text."""

import typing
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

import ketaclinic.app  # noqa: F401 (every router imported: every input model defined)
from ketaclinic.patients.schemas import InputModel, NumbersInputModel


def _subclasses(model: type[BaseModel]) -> list[type[BaseModel]]:
    found = []
    for sub in model.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def _mentions_text(annotation: Any) -> bool:
    return annotation is str or any(_mentions_text(a) for a in typing.get_args(annotation))


def text_fields_skipping_the_check(package: str = "ketaclinic") -> list[str]:
    """Fields that may hold text in an input model (of this package) that skips the
    control-character check."""
    return [f"{model.__name__}.{name}" for model in _subclasses(NumbersInputModel)
            if not issubclass(model, InputModel) and model.__module__.startswith(package)
            for name, field in model.model_fields.items() if _mentions_text(field.annotation)]


def test_inputs_of_numbers_only_carry_no_text() -> None:
    assert _subclasses(NumbersInputModel), "the readings batch is one"
    assert text_fields_skipping_the_check() == []


def test_the_guard_finds_text_in_an_input_of_numbers() -> None:
    class Sneaky(NumbersInputModel):
        value: float
        note: str | None = None

    assert text_fields_skipping_the_check(package=__name__) == ["Sneaky.note"]


def test_a_reading_still_refuses_unknown_fields() -> None:
    from ketaclinic.treatments.schemas import ReadingIn

    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        ReadingIn.model_validate({"systolic_mmhg": 120, "note": "x"})
