"""Each stage's logic as Prefect-free functions; `tasks/<stage>.py` wraps it in one thin @task."""
