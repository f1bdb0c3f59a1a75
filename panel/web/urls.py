"""Dashboard, sites, certificates and jobs pages."""

urlpatterns: list = []
