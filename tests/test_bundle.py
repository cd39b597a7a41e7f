"""jobs/ as what deploys the job: the Databricks bundle's jobs, read with `databricks-bundles` (the Python
types of bundle resources), and the Airflow DAG's run payload, read with the same types; each task's
entry point is a console script of the wheel and each parameter a flag of `sparkner-job`. Nothing is
deployed to a workspace here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import tomllib
import yaml

from sparkner.cli.job import build_parser

ROOT = Path(__file__).resolve().parents[1]
JOBS = ROOT / "jobs"


def bundle() -> dict:
    """databricks.yml with its included resources, `${var.x}` replaced by the variables' defaults."""
    root = yaml.safe_load((JOBS / "databricks.yml").read_text())
    defaults = {name: str(variable.get("default", "")) for name, variable in root["variables"].items()}
    resources: dict = {}
    for pattern in root["include"]:
        for path in sorted(JOBS.glob(pattern)):
            text = re.sub(r"\$\{var\.(\w+)\}", lambda m: defaults[m.group(1)], path.read_text())
            for kind, items in yaml.safe_load(text)["resources"].items():
                resources.setdefault(kind, {}).update(items)
    return {**root, "resources": resources}


def console_scripts() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {"name": project["name"], **project["scripts"]}


def flags_unknown_to(parser, parameters: list[str]) -> list[str]:
    known = set(parser._option_string_actions)
    return [word for word in parameters if word.startswith("--") and word not in known]


def wheel_tasks() -> dict[str, dict]:
    """Every Python-wheel task: the bundle's jobs' and the Airflow DAG's."""
    from databricks.bundles.jobs import Job, Task

    tasks = {}
    for name, spec in bundle()["resources"]["jobs"].items():
        job = Job.from_dict(spec)  # the bundle's own types: a misspelt or misplaced key fails here
        assert job.tasks, name
        for task in spec["tasks"]:
            tasks[f"bundle {name}"] = task["python_wheel_task"]
    for task in dag_payload()["tasks"]:
        Task.from_dict(task)
        tasks["airflow"] = task["python_wheel_task"]
    return tasks


def dag_payload() -> dict:
    """The `json` the DAG's DatabricksSubmitRunOperator sends (the Jobs API's runs/submit), its
    module-level constants resolved."""
    tree = ast.parse((JOBS / "airflow_dag.py").read_text())
    constants = {
        node.targets[0].id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }
    [call] = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "DatabricksSubmitRunOperator"
    ]
    [payload] = [keyword.value for keyword in call.keywords if keyword.arg == "json"]

    class Resolve(ast.NodeTransformer):
        def visit_Name(self, node):  # noqa: N802 - ast's name
            return self.visit(constants[node.id]) if node.id in constants else node

    return ast.literal_eval(Resolve().visit(payload))


def test_each_task_runs_the_wheels_job_with_flags_it_knows():
    scripts = console_scripts()
    tasks = wheel_tasks()
    assert {"bundle ner_batch", "bundle ner_stream", "bundle ner_batch_gpu", "airflow"} <= set(tasks)
    parser = build_parser()
    for where, task in tasks.items():
        assert task["package_name"] == scripts["name"], where
        assert scripts[task["entry_point"]] == "sparkner.cli.job:main", where
        assert flags_unknown_to(parser, task["parameters"]) == [], where


def test_the_jobs_take_their_parameters_as_the_job_parses_them(monkeypatch):
    """The parameters parse, with their checks, as `sparkner-job` would parse them on the cluster."""
    from sparkner.cli.job import parse_args

    for where, task in wheel_tasks().items():
        config = parse_args(task["parameters"])
        assert config.model and (config.input or config.input_table), where
        if "stream" in where:
            assert config.stream and config.trigger == "available-now" and config.checkpoint


def test_the_clusters_carry_the_documented_spark_settings():
    jobs = bundle()["resources"]["jobs"]
    cpu = jobs["ner_batch"]["job_clusters"][0]["new_cluster"]["spark_conf"]
    gpu = jobs["ner_batch_gpu"]["job_clusters"][0]["new_cluster"]["spark_conf"]
    assert cpu["spark.python.worker.reuse"] == "true" and cpu["spark.task.cpus"] == "1"
    assert gpu["spark.task.resource.gpu.amount"] == "0.25" and gpu["spark.executor.resource.gpu.amount"] == "1"
    assert jobs["ner_stream"]["trigger"]["file_arrival"]["url"].startswith("/Volumes/")
    assert jobs["ner_batch"]["schedule"]["quartz_cron_expression"]


def test_a_flag_renamed_in_the_job_fails_the_check(monkeypatch):
    import sparkner.cli.job as job

    original = job.build_parser

    def renamed():
        parser = original()
        action = parser._option_string_actions.pop("--id-col")
        action.option_strings = ["--id-column"]
        parser._option_string_actions["--id-column"] = action
        return parser

    monkeypatch.setattr(job, "build_parser", renamed)
    missing = {where: flags_unknown_to(job.build_parser(), task["parameters"]) for where, task in wheel_tasks().items()}
    assert all(found == ["--id-col"] for found in missing.values()), missing


def test_each_file_says_how_to_use_it_in_its_first_lines():
    for name in ("databricks.yml", "resources/ner_jobs.yml", "airflow_dag.py", "ner_job.py"):
        head = (JOBS / name).read_text().splitlines()[:6]
        assert any(word in " ".join(head) for word in ("databricks bundle", "bundle", "Airflow", "spark-submit")), name


@pytest.mark.parametrize("name", ["databricks.yml", "resources/ner_jobs.yml"])
def test_no_secret_in_the_bundle(name):
    text = (JOBS / name).read_text()
    assert not re.search(r"hf_[A-Za-z0-9]{20,}|dapi[0-9a-f]{20,}", text), "tokens come from secret scopes"
