"""Pipelines: a catalogue of CWL steps and workflows, and their runs next to the data."""
