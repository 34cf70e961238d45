"""incidents: an incident-response and on-call toolkit with a sharp edge for ML systems."""

__version__ = "0.1.0"
