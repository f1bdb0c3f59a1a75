"""Forms of the job pages."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from panel.jobs.models import JobStatus
from panel.web.forms import PanelForm


class JobFilterForm(PanelForm):
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("All statuses")), *JobStatus.choices],
    )
