"""Free text from people: what the dashboard's forms accept, and where a form may send them next."""

import unicodedata
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

# Tab and line breaks are text; every other control character (NUL included, which PostgreSQL
# refuses) and the bidirectional overrides that make text read differently from what it stores
# are not.
ALLOWED_CONTROLS = {"\t", "\n", "\r"}
BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _is_control(character: str) -> bool:
    if character in ALLOWED_CONTROLS:
        return False
    return unicodedata.category(character) == "Cc" or character in BIDI_CONTROLS


def reject_control_characters(value: str) -> None:
    """Validator: refuse text holding control characters."""
    if any(_is_control(character) for character in value):
        raise ValidationError("Remove the control characters from this text.", code="control_characters")


def without_control_characters(value: str) -> str:
    """The text with its control characters dropped (for searches, where a stray one is noise)."""
    return "".join(character for character in value if not _is_control(character))


class FreeTextField(forms.CharField):
    """A CharField for what people type: stripped, length-limited, no control characters."""

    default_validators = [reject_control_characters]

    def __init__(self, *, max_length: int, **kwargs: Any) -> None:
        super().__init__(max_length=max_length, strip=True, **kwargs)


def safe_next_url(request: HttpRequest, fallback: str) -> str:
    """POST `next` when it is a clean path on this site, else `fallback`."""
    target = request.POST.get("next", "")
    if not target.startswith("/"):
        return fallback  # redirect() would take a bare word for a URL pattern name
    if any(_is_control(character) or character in ALLOWED_CONTROLS for character in target):
        return fallback  # a header value cannot hold them (and nobody's link does)
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback
