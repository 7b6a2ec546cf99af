"""leadscore's daily DAG for Apache Airflow: one task per stage.

Date convention
---------------
The DAG is scheduled at midnight **in the project's time zone** (``[project] timezone`` of the
config), not in UTC: leadscore's run date D means "data known before D 00:00 in the project time
zone", so a run must not start before the local day is over. The DAG run whose data interval is
the local day X passes ``--date X+1`` (the interval's end, as a local date): it scores the leads
created on X. With ``catchup`` off, Airflow starts it as soon as X is over.

Exit codes
----------
0 success; 99 nothing to do (no lead created that day): the task is *skipped*, and so are the
tasks after it. 2 (configuration or usage), 3 (bad input data) and 4 (not enough data for a
trustworthy model) are deterministic: the task fails at once, without retries, so the alert comes
now and not hours later. 1 (a bug, or the machine: disk full) and a killed process (out of memory,
a lost worker) are retried with backoff. A retry is cheap: every stage skips itself when its
manifest shows success with the same inputs, config and build. The ``features`` task is
marked ``when = "training"`` in ``pipelines/daily.toml``: on the days train keeps the champion it
succeeds at once (exit 0) with "not needed today" in its log, so the tasks after it still run.

Configuration (no secrets here)
-------------------------------
Set these in the worker's environment or as Airflow Variables of the same name:

- ``LEADSCORE_BIN``: the ``leadscore`` binary (default: ``leadscore`` on the PATH);
- ``LEADSCORE_CONFIG``: the project's ``leadscore.toml`` (default: ``leadscore.toml``); its
  ``[project] timezone`` sets the schedule's zone;
- ``LEADSCORE_PIPELINE``: the DAG file with per-stage options (default: ``pipelines/daily.toml``
  next to this folder);
- ``LEADSCORE_TIMEZONE``: the schedule's zone, when the config cannot be read where the DAG is
  parsed (default: the config's zone, else UTC);
- ``LEADSCORE_PARTS``: score the day's leads in this many parts (default 1: no parts).

Partitioned scoring
-------------------
With ``LEADSCORE_PARTS`` = N > 1, ``qualify`` and ``value`` become one mapped task, ``score``,
fanned out with dynamic task mapping into N instances: instance I runs
``leadscore run --only qualify,value --partition I/N`` on the leads whose id hashes to part I
(each may run on another worker; they share the output folder, which must be on storage every
worker sees). The ``merge`` task then runs ``leadscore merge qualify value --parts N``, which
writes the tables an unpartitioned run writes, byte for byte, and ``export`` and ``channels`` run
as usual. A day with no lead skips every instance, and so the tasks after them.

Credentials for the ad platforms never pass through leadscore: it writes upload files only.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta

import pendulum
from airflow import DAG
from airflow.exceptions import AirflowException, AirflowFailException, AirflowSkipException
from airflow.models.baseoperator import BaseOperator

try:  # Airflow 3 moved the hook to the standard provider.
    from airflow.providers.standard.hooks.subprocess import SubprocessHook
except ImportError:  # Airflow 2
    from airflow.hooks.subprocess import SubprocessHook

STAGES = ["ingest", "labels", "features", "train", "qualify", "value", "export", "channels"]
# The stages that run on parts of the day's leads (``--partition I/N``).
PARTITIONED = ["qualify", "value"]
MAX_PARTS = 1024
HERE = os.path.dirname(os.path.abspath(__file__))

# leadscore's exit codes (README, "Exit codes").
NOTHING_TO_DO = 99
DETERMINISTIC = {2: "configuration or usage error", 3: "input data error", 4: "not enough data for a trustworthy model"}


def setting(name: str, default: str) -> str:
    """An Airflow Variable, else the environment, else the default (read when the DAG is parsed)."""
    try:
        from airflow.models import Variable

        value = Variable.get(name, default_var=None)
    except Exception:  # no metadata database when the file is parsed outside a deployment
        value = None
    return value or os.environ.get(name) or default


def project_timezone(config_path: str) -> str:
    """``[project] timezone`` of the config (UTC when it cannot be read here)."""
    try:
        with open(config_path, "rb") as f:
            raw = f.read()
    except OSError:
        return "UTC"
    try:
        import tomllib  # Python 3.11+

        return tomllib.loads(raw.decode("utf-8")).get("project", {}).get("timezone", "UTC")
    except ImportError:  # older Pythons: the one key is enough
        section = re.search(rb"^\[project\](.*?)(^\[|\Z)", raw, re.S | re.M)
        found = section and re.search(rb'^\s*timezone\s*=\s*"([^"]+)"', section.group(1), re.M)
        return found.group(1).decode() if found else "UTC"
    except Exception:  # not valid TOML: leadscore itself will say why when it runs
        return "UTC"


BIN = setting("LEADSCORE_BIN", "leadscore")
CONFIG = setting("LEADSCORE_CONFIG", "leadscore.toml")
PIPELINE = setting("LEADSCORE_PIPELINE", os.path.join(os.path.dirname(HERE), "daily.toml"))
TIMEZONE = setting("LEADSCORE_TIMEZONE", project_timezone(CONFIG))


def parts_setting(raw: str) -> int:
    """``LEADSCORE_PARTS`` as a count of parts (a wrong value is an import error of the DAG)."""
    try:
        parts = int(raw)
    except ValueError:
        parts = 0
    if not 1 <= parts <= MAX_PARTS:
        raise ValueError(f"LEADSCORE_PARTS must be a whole number from 1 to {MAX_PARTS}, found {raw!r}")
    return parts


PARTS = parts_setting(setting("LEADSCORE_PARTS", "1"))


class LeadscoreStage(BaseOperator):
    """Runs leadscore stages for a run date and maps its exit code to a task state.

    ``stages`` is one stage, or several run in one process (the partitioned stages on one part,
    ``partition`` = ``"I/N"``); ``merge`` = N merges the N parts of the partitioned stages.
    """

    template_fields = ("run_date",)
    ui_color = "#e8f1fb"

    def __init__(
        self, *, stage: str, run_date: str, partition: str | None = None, merge: int | None = None, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.stage = stage
        self.run_date = run_date
        self.partition = partition
        self.merge = merge

    def command(self) -> list[str]:
        common = ["--pipeline", PIPELINE, "--config", CONFIG, "--date", self.run_date, "--log-format", "json"]
        if self.merge is not None:
            return [BIN, "merge", *self.stage.split(","), "--parts", str(self.merge), *common]
        part = ["--partition", self.partition] if self.partition else []
        return [BIN, "run", "--only", self.stage, *part, *common]

    def execute(self, context):
        result = SubprocessHook().run_command(command=self.command(), env={**os.environ})
        code = result.exit_code
        what = f"leadscore {self.stage}{f' part {self.partition}' if self.partition else ''} {self.run_date}"
        if code == 0:
            return None
        if code == NOTHING_TO_DO:
            raise AirflowSkipException(f"{what}: nothing to do (exit 99)")
        if code in DETERMINISTIC:
            # The same inputs give the same failure: fail now, without retries.
            raise AirflowFailException(f"{what}: {DETERMINISTIC[code]} (exit {code})")
        raise AirflowException(f"{what}: exit code {code} (retried)")


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
    start_date=pendulum.datetime(2026, 1, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,  # runs share one output folder; leadscore also locks it
    default_args=default_args,
    tags=["leadscore"],
) as dag:
    # The local date the data interval ends on: the run date of the day just over.
    run_date = f"{{{{ data_interval_end.in_timezone('{TIMEZONE}').strftime('%Y-%m-%d') }}}}"
    tasks = []
    for stage in STAGES:
        if PARTS > 1 and stage in PARTITIONED:
            if stage == PARTITIONED[0]:
                scoring = ",".join(PARTITIONED)
                tasks.append(
                    LeadscoreStage.partial(task_id="score", stage=scoring, run_date=run_date).expand(
                        partition=[f"{i}/{PARTS}" for i in range(1, PARTS + 1)]
                    )
                )
                tasks.append(LeadscoreStage(task_id="merge", stage=scoring, run_date=run_date, merge=PARTS))
            continue
        tasks.append(LeadscoreStage(task_id=stage, stage=stage, run_date=run_date))
    for before, after in zip(tasks, tasks[1:]):
        before >> after
