"""Forms of the site pages. They parse input only; the services validate and decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from panel.accounts.models import User
from panel.nodes.models import Node, NodeStatus
from panel.sites.domains import MULTI_LABEL_SUFFIXES
from panel.sites.models import RedirectMode, Runtime, SiteStatus
from panel.web.forms import PanelForm


class SiteRuntimeForm(PanelForm):
    """How a site is served: the runtime, and the upstream for a reverse proxy."""

    runtime = forms.ChoiceField(
        label=_("Runtime"),
        choices=Runtime.choices,
        initial=Runtime.STATIC,
        widget=forms.RadioSelect,
    )
    upstream = forms.CharField(
        label=_("Upstream"),
        required=False,
        max_length=300,
        help_text=_(
            "Only for a reverse proxy: the host:port your application listens on, "
            "for example 127.0.0.1:3000."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("runtime") != Runtime.PROXY:
            data["upstream"] = None
        return data


class SiteCreateForm(SiteRuntimeForm):
    field_order = ["domain", "www", "runtime", "upstream", "https"]

    domain = forms.CharField(
        label=_("Domain"),
        max_length=253,
        help_text=_("For example example.com or bücher.id. Without http:// and without a path."),
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )

    # Ticked at first (panel.js unticks it while the typed name is not an apex name such as
    # example.co.id): unticked is what a browser sends as "no", so a POST without it adds none.
    www = forms.BooleanField(
        label=_("Also serve www. of this domain"),
        required=False,
        initial=True,
        help_text=_(
            "www.example.co.id as a second name of example.co.id (for www.example.co.id: "
            "example.co.id). Both names then reach the site and its certificate covers both."
        ),
        widget=forms.CheckboxInput(
            attrs={
                "data-apex-for": "domain",
                "data-apex-suffixes": "|".join(sorted(MULTI_LABEL_SUFFIXES)),
            }
        ),
    )

    https = forms.BooleanField(
        label=_("Request a free HTTPS certificate as soon as the site is live"),
        required=False,
        help_text=_(
            "Over ACME (Let's Encrypt). The domain must already point to this server; "
            "otherwise request it later from the site's page."
        ),
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if user.is_admin:
            # Admins may create a site on behalf of a user; empty means themselves.
            self.fields["owner"] = forms.ModelChoiceField(
                label=_("Owner"),
                queryset=User.objects.filter(is_active=True).order_by("username"),
                required=False,
                empty_label=_("Me (%(username)s)") % {"username": user.username},
            )
            # The node (web server) the site goes to, by name; only active nodes take sites.
            self.fields["node"] = forms.ModelChoiceField(
                label=_("Node"),
                queryset=Node.objects.filter(status=NodeStatus.ACTIVE).order_by("name"),
                to_field_name="name",
                required=False,
                empty_label=_("Automatic: the active node with the fewest sites"),
                help_text=_("The server the site lives on; its jobs run on that node's worker."),
            )
            # Shown once the owner is at their quota (the service says so on this field).
            self.fields["override_quota"] = forms.BooleanField(
                label=_("Override the user's quota"),
                required=False,
                help_text=_("The site is created beyond the owner's quota; this is audited."),
            )


class SiteSettingsForm(SiteRuntimeForm):
    """Change a site's runtime (and upstream) after it was created."""

    def __init__(self, *args: Any, site: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"runtime": site.runtime, "upstream": site.upstream or ""})
        super().__init__(*args, **kwargs)


class SiteSuspendForm(PanelForm):
    """Admins: suspend (with a reason the owner will read) or resume a site."""

    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        max_length=500,
        help_text=_("Shown to the site's owner, e.g. “Invoice 2026-11 unpaid”."),
    )


class SiteHstsForm(PanelForm):
    """Owner or admin: switch HSTS on (after confirming what it means) or off."""

    action = forms.ChoiceField(choices=[("on", "on"), ("off", "off")], widget=forms.HiddenInput)
    confirm = forms.BooleanField(
        label=_(
            "I understand: once visitors have seen this header, their browsers refuse plain "
            "HTTP for this domain for two years, even if HTTPS is removed later."
        ),
        required=False,
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("action") == "on" and not data.get("confirm"):
            self.add_error("confirm", _("Confirm that you understand what HSTS does."))
        return data


class SiteDeleteForm(PanelForm):
    confirm_domain = forms.CharField(
        label=_("Domain"),
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )

    def __init__(self, *args: Any, site: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.site = site
        # The button unlocks (with JS) once either spelling of the domain is typed.
        spellings = {site.display_domain.lower(), site.domain.lower()}
        self.fields["confirm_domain"].help_text = _("Type %(domain)s to confirm.") % {
            "domain": site.display_domain
        }
        self.fields["confirm_domain"].widget.attrs["data-confirm-value"] = "|".join(
            sorted(spellings)
        )

    def clean_confirm_domain(self) -> str:
        typed = self.cleaned_data["confirm_domain"].strip().rstrip(".").lower()
        if typed not in (self.site.domain.lower(), self.site.display_domain.lower()):
            raise ValidationError(
                _("That is not this site's domain. Type %(domain)s to delete it."),
                params={"domain": self.site.display_domain},
                code="mismatch",
            )
        return typed


class AliasForm(PanelForm):
    """Add another name to a site (or, on the removal URL, name the alias to remove)."""

    domain = forms.CharField(
        label=_("Another name"),
        max_length=253,
        help_text=_("For example www.example.co.id or toko.example.co.id."),
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )


class RedirectModeForm(PanelForm):
    redirect_mode = forms.ChoiceField(
        label=_("The site's other names"),
        choices=RedirectMode.choices,
        widget=forms.RadioSelect,
    )

    redirect_to = forms.ChoiceField(label=_("Redirect to"), required=False, choices=[])

    def __init__(self, *args: Any, site: Any, aliases: Any = (), **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial", {"redirect_mode": site.redirect_mode, "redirect_to": site.redirect_to}
        )
        super().__init__(*args, **kwargs)
        field = self.fields["redirect_to"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(a.domain, a.display_domain) for a in aliases]


# Not a stored status: an active site an administrator suspended (suspended_at set).
SUSPENDED = "suspended"
SORT_DISK = "disk"


class SiteFilterForm(PanelForm):
    q = forms.CharField(label=_("Search"), required=False, max_length=253)
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[
            ("", _("All statuses")),
            *SiteStatus.choices[:2],
            (SUSPENDED, _("Suspended")),
            *SiteStatus.choices[2:],
        ],
    )
    # Admins only (the view ignores it for users): the sites of one user, by username.
    owner = forms.CharField(label=_("Owner"), required=False, max_length=150)
    # The list's order: by domain (default) or the biggest disk use first (never measured last).
    sort = forms.ChoiceField(
        label=_("Sort"),
        required=False,
        choices=[("", _("Domain")), (SORT_DISK, _("Disk use, largest first"))],
    )
