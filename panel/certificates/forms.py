"""The certificate upload form of the site page."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from panel.web.forms import PanelForm


class CertificateUploadForm(PanelForm):
    chain_pem = forms.CharField(
        label=_("Certificate chain (PEM)"),
        help_text=_("The certificate first, then the intermediate certificates."),
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
    )
    key_pem = forms.CharField(
        label=_("Private key (PEM)"),
        help_text=_("Stored readable only by the panel; never shown again."),
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "autocomplete": "off"}),
        strip=False,
    )
