"""Storage: read-only archive volumes (with embargo), read-write workspaces, the safe file API."""
