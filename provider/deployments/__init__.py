"""Template deployments: the engine host adapter and what-if prediction (the REST type is in resources)."""
