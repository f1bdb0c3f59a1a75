"""Forms of the node pages. They parse input only; the services validate and decide."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from panel.web.forms import PanelForm

from .models import NodeStatus


class NodeCreateForm(PanelForm):
    name = forms.CharField(
        label=_("Name"),
        max_length=63,
        help_text=_(
            "Lower-case letters, digits and hyphens, e.g. web-2. The node's worker is started "
            "with NUSANTARA_NODE set to this name."
        ),
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )
    address = forms.CharField(
        label=_("Address"),
        max_length=253,
        help_text=_("The node's host name or IP address, e.g. web-2.example.net or 10.0.0.12."),
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )


class NodeStatusForm(PanelForm):
    status = forms.ChoiceField(choices=NodeStatus.choices)
