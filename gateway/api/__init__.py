"""HTTP routes, grouped by concern; `gateway.api.router` aggregates them."""
