"""The DPS data plane: the device API (registration) and the service API (enrollments)."""
