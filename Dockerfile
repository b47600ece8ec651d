# The image the Docker and Kubernetes work pools run the retraining flow in (deployments/prefect.yaml).
#
#   docker build -t rnn-retrain:latest .
#
# The code lives at /opt/rnn-retrain, the pull step of those deployments' working directory.
# Artifacts, the dataset cache and (by default) the MLflow store go to RETRAIN_HOME: mount a
# volume there, or point --artifact-root / MLFLOW_TRACKING_URI at shared storage.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    RETRAIN_HOME=/data/rnn-retrain \
    PREFECT_LOCAL_STORAGE_PATH=/data/rnn-retrain/prefect-storage \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    TF_CPP_MIN_LOG_LEVEL=3

WORKDIR /opt/rnn-retrain
# Dependencies first, from the lock file, so code changes do not reinstall them.
COPY requirements.lock .
RUN pip install -r requirements.lock
COPY pyproject.toml README.md ./
COPY rnn_retrain rnn_retrain
COPY tasks tasks
COPY flows flows
COPY interface interface
COPY deployments deployments
RUN pip install --no-deps . && mkdir -p "$RETRAIN_HOME"

VOLUME ["/data/rnn-retrain"]
CMD ["retrain", "--help"]
