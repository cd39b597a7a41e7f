"""MLflow models as sources: URIs (`uris`), pinning an alias to a version on the driver (`registry`)
and one download per machine (`artifacts`). Logging a model is `sparkner.mlflow`."""
