"""One package per data source (vendor): client + auth, endpoints, models, datasets, transforms."""
