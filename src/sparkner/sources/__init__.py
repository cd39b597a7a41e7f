"""Where the model comes from and how it loads: `locations` maps what the user wrote (a Hub id, a
path, `dbfs:/`, `/Volumes/`, an MLflow URI) to what loaders take, `mlflow` pins and downloads
registered models, `settings` builds the validated `Settings` once per UDF, job or server, and
`loading` loads tokenizers, configs and weights (once per worker, in the worker cache).
"""
