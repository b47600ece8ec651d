"""One thin Prefect @task per stage: read inputs through the store, call the stage's logic, write outputs."""
