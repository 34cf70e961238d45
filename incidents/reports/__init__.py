"""Documents: Jinja2-rendered postmortems (and, later, stakeholder summaries)."""
