"""datalabs: a self-hostable science platform that brings the user to the data."""

__version__ = "0.1.0"
