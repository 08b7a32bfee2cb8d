"""Phone numbers and email addresses as people type them, checked and kept in one normal form:
phone numbers in E.164 (+16175550142) by the phonenumbers library, emails by email-validator.
One rule for the pages, the API, the CLI and imports."""

from typing import Annotated

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator

from ketaclinic.settings import get_settings

PHONE_ACCEPTED = "a phone number such as (617) 555-0142 or +44 20 7946 0958, or blank"
EMAIL_ACCEPTED = "an address such as name@example.org, or blank"


def normal_phone(text: str) -> str:
    """The number in E.164 form, "" for blank; ValueError saying what is accepted otherwise."""
    text = text.strip()
    if not text:
        return ""
    try:
        number = phonenumbers.parse(text, get_settings().phone_region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_possible_number(number):
        raise ValueError(f"{text!r} is not a phone number; write {PHONE_ACCEPTED}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normal_email(text: str) -> str:
    """The address in normal form, "" for blank; ValueError saying what is accepted otherwise."""
    text = text.strip()
    if not text:
        return ""
    try:
        return str(validate_email(text, check_deliverability=False).normalized)
    except EmailNotValidError:
        raise ValueError(f"{text!r} is not an email address; write {EMAIL_ACCEPTED}") from None


PhoneNumber = Annotated[str, AfterValidator(normal_phone)]
EmailAddress = Annotated[str, AfterValidator(normal_email)]
