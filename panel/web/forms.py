"""What every form of the panel shares: the service-error bridge and the label style. The forms
themselves live in the app that owns their model (panel/sites/forms.py, panel/jobs/forms.py)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError


def add_service_errors(form: forms.Form, exc: ValidationError, aliases: dict | None = None) -> None:
    """Show a service's ValidationError next to the fields it names; anything the form has no
    field for (or "__all__") goes above the form."""
    aliases = aliases or {}
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for key, errors in exc.error_dict.items():
        name = aliases.get(key, key)
        if name == NON_FIELD_ERRORS or name not in form.fields:
            form.add_error(None, errors)
        else:
            form.add_error(name, errors)


class PanelForm(forms.Form):
    """Labels without a trailing colon, the same in every language."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
