"""The operator console at ``/console``: server-rendered pages (Jinja2, plain HTML forms, no
JavaScript) for on-call engineers and auditors. Routes live in `gateway.api.console`; this package
holds the rendering (`render`), sign-in and CSRF (`access`), the page data (`views`) and the
extension point for anomaly feeds (`feeds`)."""
