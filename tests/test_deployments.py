"""The deployments: prefect.yaml, what `retrain serve` builds from it, the run form's schema."""

from datetime import timedelta

import jsonschema
import pytest
import yaml
from prefect.client.schemas.objects import ConcurrencyLimitStrategy
from prefect.flows import load_flow_from_entrypoint
from prefect.utilities.callables import parameter_schema

from rnn_retrain.config.retrain import RetrainConfig
from rnn_retrain.deployments.serve import (
    FLOWS,
    PREFECT_FILE,
    build_deployment,
    build_deployments,
    load_deployment_specs,
    served_specs,
)
from rnn_retrain.errors import RetrainError
from rnn_retrain.flows.retrain import retrain
from rnn_retrain.interface.cli import main


@pytest.fixture(scope="module")
def schema() -> dict:
    return parameter_schema(retrain).model_dump_for_openapi()


def test_prefect_yaml_declares_weekly_manual_and_watcher_deployments():
    document = yaml.safe_load(PREFECT_FILE.read_text())
    deployments = {spec["name"]: spec for spec in served_specs(document["deployments"])}
    assert set(deployments) == {
        "weekly-retrain",
        "manual-retrain",
        "watch-source",
        "batch-score",
        "weekly-gc",
    }
    weekly, manual = deployments["weekly-retrain"], deployments["manual-retrain"]
    assert weekly["schedules"] == [{"cron": "0 3 * * 1", "timezone": "UTC", "active": True}]
    assert manual["schedules"] == []
    for spec in deployments.values():
        assert spec["work_pool"]["name"] == "retrain-pool"
        assert spec["enforce_parameter_schema"] is True
    for spec in (weekly, manual):
        assert spec["concurrency_limit"] == {"limit": 1, "collision_strategy": "ENQUEUE"}
    step = document["pull"][0]["prefect.deployments.steps.set_working_directory"]
    assert step["directory"] == "{{ $PWD }}"


def test_every_entrypoint_is_a_flow_serve_knows():
    for spec in load_deployment_specs():
        flow = load_flow_from_entrypoint(spec["entrypoint"])
        assert flow.name == FLOWS[spec["entrypoint"]]().name


def test_served_deployments_match_prefect_yaml_with_nothing_dropped():
    specs = {spec["name"]: spec for spec in served_specs(load_deployment_specs())}
    built = {deployment.name: deployment for deployment in build_deployments(list(specs.values()))}
    assert set(built) == set(specs)
    weekly, watcher = built["weekly-retrain"], built["watch-source"]
    assert [schedule.schedule.cron for schedule in weekly.schedules] == ["0 3 * * 1"]
    assert [schedule.schedule.timezone for schedule in weekly.schedules] == ["UTC"]
    assert built["manual-retrain"].schedules == []
    [interval] = watcher.schedules
    assert interval.schedule.interval == timedelta(minutes=5) and interval.active is False
    assert watcher.concurrency_options.collision_strategy == ConcurrencyLimitStrategy.CANCEL_NEW
    # The data trigger: the event, and the run's parameters templated from it.
    [daily] = built["batch-score"].schedules
    assert daily.schedule.cron == "0 5 * * *" and daily.active is False
    [trigger, drift] = weekly.triggers
    assert trigger.expect == {"rnn-retrain.source.changed"}
    assert trigger.parameters["config"]["source"] == {"data": "{{ event.payload.source }}"}
    # Drift starts a run on the configured data, once a team turns it on.
    assert drift.expect == {"rnn-retrain.data.drifted"} and not drift.enabled
    assert drift.parameters is None
    for name, deployment in built.items():
        spec = specs[name]
        assert deployment.enforce_parameter_schema
        assert deployment.parameters == (spec.get("parameters") or {})
        assert deployment.description == spec["description"]
        assert deployment.tags == spec["tags"]
        assert len(deployment.triggers) == len(spec.get("triggers") or [])
        assert deployment.concurrency_limit == spec["concurrency_limit"]["limit"]
    assert weekly.parameters == {"config": {"source": {"data": "demo"}, "model": {"cell": "lstm"}}}


def test_a_key_serve_cannot_honour_is_refused_not_dropped():
    spec = {**served_specs(load_deployment_specs())[0], "sla": [{"duration": 60}]}
    with pytest.raises(RetrainError, match=r"keys `retrain serve` cannot honour: sla; serve it"):
        build_deployment(spec)
    spec.pop("sla")
    refused = {
        "a schedule needs exactly one of cron, interval, rrule": [{"every": "day"}],
        "a cron schedule does not take replaces": [{"cron": "0 3 * * 1", "replaces": "x"}],
        "Invalid cron string": [{"cron": "every monday"}],
    }
    for message, schedules in refused.items():
        with pytest.raises(RetrainError, match=rf"deployment 'weekly-retrain': {message}"):
            build_deployment({**spec, "schedules": schedules})
    bad_trigger = [{"type": "event", "expect": ["x"], "posture": "Sideways"}]
    with pytest.raises(RetrainError, match=r"'weekly-retrain': triggers: 0\.event\.posture: "):
        build_deployment({**spec, "triggers": bad_trigger})


def test_every_kind_of_schedule_prefect_deploy_reads():
    spec = served_specs(load_deployment_specs())[0]
    schedules = [
        {"rrule": "FREQ=WEEKLY;BYDAY=MO", "timezone": "Europe/Paris", "active": False},
        {"interval": 3600, "anchor_date": "2026-01-05T03:00:00+00:00", "slug": "hourly"},
        {"cron": "0 3 * * 1", "day_or": False, "parameters": {"config": {"training": {"seed": 3}}}},
    ]
    rrule, hourly, cron = build_deployment({**spec, "schedules": schedules}).schedules
    assert rrule.schedule.rrule.endswith("FREQ=WEEKLY;BYDAY=MO") and rrule.active is False
    assert rrule.schedule.timezone == "Europe/Paris"
    assert hourly.schedule.interval == timedelta(hours=1) and hourly.slug == "hourly"
    assert hourly.schedule.anchor_date.isoformat().startswith("2026-01-05T03:00:00")
    assert cron.schedule.day_or is False and cron.parameters == {
        "config": {"training": {"seed": 3}}
    }


def test_parameter_schema_accepts_the_defaults_and_rejects_bad_values(schema):
    jsonschema.validate({"config": RetrainConfig().model_dump(mode="json")}, schema)
    for spec in load_deployment_specs():
        flow = FLOWS[spec["entrypoint"]]()
        flow_schema = parameter_schema(flow).model_dump_for_openapi()
        jsonschema.validate(spec.get("parameters") or {}, flow_schema)
    with pytest.raises(jsonschema.ValidationError, match="0 is less than the minimum of 1"):
        jsonschema.validate({"config": {"text": {"maxlen": 0}}}, schema)
    with pytest.raises(jsonschema.ValidationError, match="'transformer' is not one of"):
        jsonschema.validate({"config": {"model": {"cell": "transformer"}}}, schema)
    with pytest.raises(jsonschema.ValidationError, match="Additional properties"):
        jsonschema.validate({"config": {"text": {"cell": "gru"}}}, schema)


def test_the_schema_refuses_fields_outside_their_section(schema):
    with pytest.raises(jsonschema.ValidationError, match="'cell' was unexpected"):
        jsonschema.validate({"config": {"cell": "gru"}}, schema)
    with pytest.raises(jsonschema.ValidationError, match="maxlen_typo"):
        jsonschema.validate({"config": {"maxlen_typo": 40}}, schema)


def test_run_form_schema_is_sections_of_described_fields_with_defaults(schema):
    # The Prefect UI draws one titled section per sub-model, in this order.
    definitions = schema["definitions"]
    sections = definitions["RetrainConfig"]["properties"]
    assert list(sections) == ["source", "model", "training", "text", "data_gate", "registry"]
    defaults = RetrainConfig().model_dump(mode="json")
    for name, section in sections.items():
        model = RetrainConfig.model_fields[name].annotation
        definition = definitions[section["$ref"].rsplit("/", 1)[-1]]
        assert section["description"] and section.get("title", definition["title"])
        assert definition["additionalProperties"] is False
        properties = definition["properties"]
        assert list(properties) == list(model.model_fields)
        for field_name, field in model.model_fields.items():
            assert properties[field_name]["description"] == field.description
            assert properties[field_name]["default"] == defaults[name][field_name]
            assert "$ref" not in properties[field_name]


@pytest.mark.parametrize(
    ("api_url", "message", "expected"),
    [
        ("", "error: no Prefect server configured: start one with `prefect server start`", 2),
        (
            "http://127.0.0.1:9/api",
            "error: Prefect server http://127.0.0.1:9/api is not answering",
            5,
        ),
    ],
)
def test_serve_without_a_running_server_is_one_line(capsys, api_url, message, expected):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url or None}):
        assert main(["serve"]) == expected
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
    for spec in (docker, kubernetes):
        # Cache records where every container sees them, beside the artifacts.
        env = spec["work_pool"]["job_variables"]["env"]
        assert env["PREFECT_LOCAL_STORAGE_PATH"].startswith("/data/rnn-retrain/")
    resources = kubernetes["work_pool"]["job_variables"]
    assert (resources["cpu_request"], resources["memory_request"]) == ("2", "8Gi")
    # RetrainConfig accepts the parameters the variants pass.
    RetrainConfig.model_validate(kubernetes["parameters"]["config"])


@pytest.mark.usefixtures("prefect_server")
def test_alerts_find_their_notification_block_by_name():
    from prefect.blocks.notifications import SlackWebhook
    from prefect.blocks.system import Secret
    from prefect.client.orchestration import get_client

    from rnn_retrain.deployments.alerts import notification_block_id

    created = notification_block_id("http://127.0.0.1:9/alerts-t0k3n", None)
    # The block --webhook-url saved is the default --block, found by its name.
    assert notification_block_id(None, None) == created
    # The URL is one of its secret values: the UI and the API show it obfuscated.
    with get_client(sync_client=True) as client:
        shown = client.read_block_document(created, include_secrets=False).data
        kept = client.read_block_document(created, include_secrets=True).data
    assert "t0k3n" not in repr(shown) and shown["url"] == "{{webhook_url}}"
    assert kept["secrets"] == {"webhook_url": "http://127.0.0.1:9/alerts-t0k3n"}
    slack = SlackWebhook(url="https://hooks.slack.com/services/T0/B0/x").save("team-alerts")
    assert notification_block_id(None, "slack-webhook/team-alerts") == slack
    Secret(value="s3cr3t").save("not-a-notifier", overwrite=True)
    refused = {
        "slack-webhook/nobody": "no notification block 'slack-webhook/nobody' on the Prefect server",
        "secret/not-a-notifier": "'secret/not-a-notifier' is not a notification block",
        "team-alerts": "'team-alerts' is not <block-type-slug>/<name>",
    }
    for slug, message in refused.items():
        with pytest.raises(RetrainError, match=f"--block: {message}"):
            notification_block_id(None, slug)
