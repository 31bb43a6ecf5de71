"""The discovery portal: one index over the platform's assets (archive volumes and their data sets,
datalabs, pipelines), full-text search with facets, JSON-LD and a DCAT feed."""
