"""leadscore's daily DAG for Apache Airflow: one BashOperator task per stage.

Date convention
---------------
The DAG run for logical date ``ds`` covers the leads **created on ``ds``** (project time zone).
leadscore's run date D means "data known before D 00:00" and scores the leads created on D - 1, so
every task passes ``--date {{ macros.ds_add(ds, 1) }}``. With the daily schedule, Airflow starts
the run for ``ds`` once that day is over, when everything created on it is in the CRM export.

Exit codes
----------
0 success; 99 nothing to do (no lead created that day: the task is *skipped*, and so are the
tasks after it); 2 configuration or usage error, 3 bad input data, 4 not enough data for a
trustworthy model, 1 a bug: these fail the task, and Airflow retries it with backoff. A retry is
cheap: every stage skips itself when its manifest shows success with the same inputs, config and
build. The ``labels`` and ``features`` tasks are marked ``when = "training"`` in
``pipelines/daily.toml``: on the days train keeps the champion they succeed at once (exit 0)
with "not needed today" in their log, so the tasks after them still run.

Configuration (no secrets here)
-------------------------------
Set these in the worker's environment or as Airflow Variables of the same name:

- ``LEADSCORE_BIN``: the ``leadscore`` binary (default: ``leadscore`` on the PATH);
- ``LEADSCORE_CONFIG``: the project's ``leadscore.toml`` (default: ``leadscore.toml``);
- ``LEADSCORE_PIPELINE``: the DAG file with per-stage options (default: ``pipelines/daily.toml``
  next to this folder).

Credentials for the ad platforms never pass through leadscore: it writes upload files only.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow import DAG

try:  # Airflow 3 moved the operator to the standard provider.
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2
    from airflow.operators.bash import BashOperator

STAGES = ["ingest", "labels", "features", "train", "qualify", "value", "export"]
HERE = os.path.dirname(os.path.abspath(__file__))


def setting(name: str, default: str) -> str:
    """An Airflow Variable, else the environment, else the default (read when the DAG is parsed)."""
    try:
        from airflow.models import Variable

        value = Variable.get(name, default_var=None)
    except Exception:  # no metadata database when the file is parsed outside a deployment
        value = None
    return value or os.environ.get(name) or default


BIN = setting("LEADSCORE_BIN", "leadscore")
CONFIG = setting("LEADSCORE_CONFIG", "leadscore.toml")
PIPELINE = setting("LEADSCORE_PIPELINE", os.path.join(os.path.dirname(HERE), "daily.toml"))

default_args = {
    "owner": "leadscore",
    "retries": 3,
    "retry_delay": timedelta(minutes=5),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(hours=1),
}

with DAG(
    dag_id="leadscore_daily",
    description="Score, value and export yesterday's leads (leadscore)",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # runs share one output folder; leadscore also locks it
    default_args=default_args,
    tags=["leadscore"],
) as dag:
    previous = None
    for stage in STAGES:
        task = BashOperator(
            task_id=stage,
            bash_command=(
                f'"$LEADSCORE_BIN" run --pipeline "$LEADSCORE_PIPELINE" --config "$LEADSCORE_CONFIG" '
                f"--only {stage} --date {{{{ macros.ds_add(ds, 1) }}}} --log-format json"
            ),
            env={"LEADSCORE_BIN": BIN, "LEADSCORE_CONFIG": CONFIG, "LEADSCORE_PIPELINE": PIPELINE},
            append_env=True,
            skip_on_exit_code=99,
        )
        if previous is not None:
            previous >> task
        previous = task
