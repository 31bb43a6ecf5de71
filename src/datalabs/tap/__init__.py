"""IVOA TAP 1.1: ADQL over the archive metadata, synchronous and asynchronous (UWS) queries."""
