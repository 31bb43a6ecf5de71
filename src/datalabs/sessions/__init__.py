"""Datalab sessions: launch, supervise, proxy, stop. States live in ``datalabs.states``."""
