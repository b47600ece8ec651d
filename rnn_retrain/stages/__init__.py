"""Each stage's logic as Prefect-free functions; `tasks/<stage>.py` wraps it in one thin @task.

Also the typed results the stages return (`results`) and the run reports built from them
(`report`). May import `errors`, `store`, `config`, `data` and `model`; never Prefect, MLflow, the
registry adapter or `orchestration`.
"""
