"""Loads leadscore_daily.py under a real Airflow and runs it end to end (see check.sh).

Expects AIRFLOW_HOME (with a migrated database), LEADSCORE_BIN, LEADSCORE_CONFIG (a copy of the
bundled sample's leadscore.toml) and LEADSCORE_PIPELINE in the environment.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from airflow.models import DagBag

HERE = Path(__file__).resolve().parent
STAGES = ["ingest", "labels", "features", "train", "qualify", "value", "export"]


def check_dagbag() -> None:
    bag = DagBag(dag_folder=str(HERE), include_examples=False)
    assert bag.import_errors == {}, bag.import_errors
    dag = bag.get_dag("leadscore_daily")
    assert dag is not None, f"no leadscore_daily DAG; found {list(bag.dags)}"
    assert sorted(t.task_id for t in dag.tasks) == sorted(STAGES)
    for before, after in zip(STAGES, STAGES[1:]):
        assert dag.get_task(before).downstream_task_ids == {after}, (before, dag.get_task(before).downstream_task_ids)
    assert dag.get_task("export").downstream_task_ids == set()
    assert dag.max_active_runs == 1
    for stage in STAGES:
        task = dag.get_task(stage)
        assert task.skip_on_exit_code == [99] or task.skip_on_exit_code == 99, task.skip_on_exit_code
        assert task.retries == 3 and task.retry_exponential_backoff, stage
        assert f"--only {stage}" in task.bash_command, task.bash_command
        assert "macros.ds_add(ds, 1)" in task.bash_command, task.bash_command
        assert "secret" not in task.bash_command.lower() and "password" not in task.bash_command.lower()
    print(f"DagBag: leadscore_daily loads with {len(dag.tasks)} tasks in order, no import errors")


def check_dags_test() -> None:
    airflow = Path(sys.executable).with_name("airflow")
    # Logical date 2026-10-31 covers the leads created that day: leadscore run date 2026-11-01.
    out = subprocess.run(
        [str(airflow), "dags", "test", "leadscore_daily", "2026-10-31"],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    log = out.stdout + out.stderr
    if out.returncode != 0:
        print(log[-20000:])
        raise SystemExit(f"airflow dags test exited with {out.returncode}")
    run_dir = Path(os.environ["LEADSCORE_CONFIG"]).parent / "runs" / "2026-11-01"
    for stage in STAGES:
        manifest = run_dir / stage / "manifest.json"
        assert manifest.exists(), f"{manifest} missing after airflow dags test\n{log[-5000:]}"
        assert json.loads(manifest.read_text())["status"] == "success"
    assert "state=success" in log, f"the DAG run did not end in success\n{log[-5000:]}"
    # A retry or a second run of the same date is a cheap no-op: every stage is up to date.
    again = subprocess.run(
        [os.environ["LEADSCORE_BIN"], "run", "--pipeline", os.environ["LEADSCORE_PIPELINE"], "--config",
         os.environ["LEADSCORE_CONFIG"], "--date", "2026-11-01", "--json"],
        capture_output=True, text=True, check=True,
    )
    statuses = [s["status"] for s in json.loads(again.stdout)["stages"]]
    assert statuses == ["skipped"] * 7, statuses
    print("airflow dags test leadscore_daily 2026-10-31: every task succeeded; outputs in", run_dir)


if __name__ == "__main__":
    check_dagbag()
    check_dags_test()
