"""The audit log page (admins)."""

urlpatterns: list = []
