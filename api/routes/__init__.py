"""HTTP routes, one module per kind of caller."""
