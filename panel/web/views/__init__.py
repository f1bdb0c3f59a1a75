"""The panel's pages: dashboard, sites, certificates and jobs. Thin views over the services."""
