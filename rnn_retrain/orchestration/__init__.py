"""Prefect-side support shared by the tasks and flows: run identity, retries, the stage cache."""
