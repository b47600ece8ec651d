"""The deployments: prefect.yaml, what `retrain serve` builds from it, the run form's schema."""

import jsonschema
import pytest
import yaml
from prefect.client.schemas.objects import ConcurrencyLimitStrategy
from prefect.flows import load_flow_from_entrypoint
from prefect.utilities.callables import parameter_schema

from deployments.serve import (
    PREFECT_FILE,
    build_deployments,
    load_deployment_specs,
    served_specs,
)
from flows.retrain import retrain
from interface.cli import main
from rnn_retrain.config import RetrainConfig


@pytest.fixture(scope="module")
def schema() -> dict:
    return parameter_schema(retrain).model_dump_for_openapi()


def test_prefect_yaml_declares_a_weekly_and_a_manual_deployment():
    document = yaml.safe_load(PREFECT_FILE.read_text())
    deployments = {spec["name"]: spec for spec in served_specs(document["deployments"])}
    assert set(deployments) == {"weekly-retrain", "manual-retrain"}
    weekly, manual = deployments["weekly-retrain"], deployments["manual-retrain"]
    assert weekly["schedules"] == [{"cron": "0 3 * * 1", "timezone": "UTC", "active": True}]
    assert manual["schedules"] == []
    for spec in deployments.values():
        assert spec["work_pool"]["name"] == "retrain-pool"
        assert spec["enforce_parameter_schema"] is True
        assert spec["concurrency_limit"] == {"limit": 1, "collision_strategy": "ENQUEUE"}
    step = document["pull"][0]["prefect.deployments.steps.set_working_directory"]
    assert step["directory"] == "{{ $PWD }}"


def test_every_entrypoint_imports_the_retrain_flow():
    for spec in load_deployment_specs():
        flow = load_flow_from_entrypoint(spec["entrypoint"])
        assert flow.name == "retrain"


def test_served_deployments_match_prefect_yaml():
    built = {
        deployment.name: deployment
        for deployment in build_deployments(served_specs(load_deployment_specs()))
    }
    assert set(built) == {"weekly-retrain", "manual-retrain"}
    weekly = built["weekly-retrain"]
    assert [schedule.schedule.cron for schedule in weekly.schedules] == ["0 3 * * 1"]
    assert [schedule.schedule.timezone for schedule in weekly.schedules] == ["UTC"]
    assert built["manual-retrain"].schedules == []
    for deployment in built.values():
        assert deployment.concurrency_options.collision_strategy == ConcurrencyLimitStrategy.ENQUEUE
        assert deployment.enforce_parameter_schema
    assert weekly.parameters == {"config": {"data": "demo", "cell": "lstm"}}


def test_parameter_schema_accepts_the_defaults_and_rejects_bad_values(schema):
    jsonschema.validate({"config": RetrainConfig().model_dump(mode="json")}, schema)
    for spec in load_deployment_specs():
        jsonschema.validate(spec.get("parameters") or {}, schema)
    with pytest.raises(jsonschema.ValidationError, match="0 is less than the minimum of 1"):
        jsonschema.validate({"config": {"maxlen": 0}}, schema)
    with pytest.raises(jsonschema.ValidationError, match="'transformer' is not one of"):
        jsonschema.validate({"config": {"cell": "transformer"}}, schema)


def test_run_form_schema_has_every_field_with_description_and_default(schema):
    # The Prefect UI draws the form from this schema: one flat model, no nested models.
    properties = schema["definitions"]["RetrainConfig"]["properties"]
    assert set(properties) == set(RetrainConfig.model_fields)
    defaults = RetrainConfig().model_dump(mode="json")
    for name, field in RetrainConfig.model_fields.items():
        assert properties[name]["description"] == field.description
        assert properties[name]["default"] == defaults[name]
        assert "$ref" not in properties[name] and "anyOf" not in properties[name]


@pytest.mark.parametrize(
    ("api_url", "message"),
    [
        ("", "error: no Prefect server configured: start one with `prefect server start`"),
        ("http://127.0.0.1:9/api", "error: Prefect server http://127.0.0.1:9/api is not answering"),
    ],
)
def test_serve_without_a_running_server_is_one_line(monkeypatch, capsys, api_url, message):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url or None}):
        assert main(["serve"]) == 2
    error = capsys.readouterr().err
    assert error.startswith(message) and error.count("\n") == 1


def test_container_variants_run_the_same_flow_from_the_image_with_resources():
    specs = {spec["name"]: spec for spec in load_deployment_specs()}
    docker, kubernetes = specs["weekly-retrain-docker"], specs["weekly-retrain-kubernetes"]
    for spec in (docker, kubernetes):
        assert spec["entrypoint"] == "flows/retrain.py:retrain"
        assert spec["schedules"][0]["cron"] == "0 3 * * 1" and not spec["schedules"][0]["active"]
        step = spec["pull"][0]["prefect.deployments.steps.set_working_directory"]
        assert step["directory"] == "/opt/rnn-retrain"
    assert "WORKDIR /opt/rnn-retrain" in (PREFECT_FILE.parents[1] / "Dockerfile").read_text()
    assert docker["work_pool"]["job_variables"]["mem_limit"] == "8g"
    resources = kubernetes["work_pool"]["job_variables"]
    assert (resources["cpu_request"], resources["memory_request"]) == ("2", "8Gi")
    # RetrainConfig accepts the parameters the variants pass.
    RetrainConfig(**kubernetes["parameters"]["config"])
