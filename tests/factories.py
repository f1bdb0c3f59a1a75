"""factory-boy factories for the five tables."""

from __future__ import annotations

import factory
from django.conf import settings

from panel.accounts.models import Role, User
from panel.sites.models import Runtime, Site, SiteStatus

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    role = Role.USER
    password = factory.django.Password(PASSWORD)


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site

    domain = factory.Sequence(lambda n: f"site{n}.example.com")
    runtime = Runtime.STATIC
    status = SiteStatus.ACTIVE
    created_by = factory.SubFactory(UserFactory)
    root_path = factory.LazyAttribute(lambda o: str(settings.NUSANTARA_WEB_ROOT / o.domain))
