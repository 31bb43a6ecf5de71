"""The datalab catalogue: ESA-compatible datalab packages, versions, moderation, environment builds."""
