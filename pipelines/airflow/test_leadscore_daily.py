"""Loads leadscore_daily.py under a real Airflow and runs it end to end (see check.sh): first as
one task per stage, then with LEADSCORE_PARTS=3 (qualify and value fanned out by dynamic task
mapping, then merged), whose outputs must be those of the first run byte for byte.

Expects AIRFLOW_HOME (with a migrated database), LEADSCORE_BIN, LEADSCORE_CONFIG (a copy of the
bundled sample's leadscore.toml) and LEADSCORE_PIPELINE in the environment.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from airflow.models import DagBag

HERE = Path(__file__).resolve().parent
STAGES = ["ingest", "labels", "features", "train", "qualify", "value", "export", "channels"]


def check_dagbag() -> None:
    bag = DagBag(dag_folder=str(HERE), include_examples=False)
    assert bag.import_errors == {}, bag.import_errors
    dag = bag.get_dag("leadscore_daily")
    assert dag is not None, f"no leadscore_daily DAG; found {list(bag.dags)}"
    assert sorted(t.task_id for t in dag.tasks) == sorted(STAGES)
    for before, after in zip(STAGES, STAGES[1:]):
        assert dag.get_task(before).downstream_task_ids == {after}, (before, dag.get_task(before).downstream_task_ids)
    assert dag.get_task(STAGES[-1]).downstream_task_ids == set()
    assert dag.max_active_runs == 1
    # Scheduled at midnight in the project's zone (the sample's), not in UTC.
    assert str(dag.timezone.name) == "Europe/Amsterdam", dag.timezone
    for stage in STAGES:
        task = dag.get_task(stage)
        assert type(task).__name__ == "LeadscoreStage", type(task)
        assert task.retries == 3 and task.retry_exponential_backoff, stage
        command = " ".join(task.command())
        assert f"--only {stage}" in command, command
        assert "data_interval_end.in_timezone('Europe/Amsterdam')" in task.run_date, task.run_date
        assert "secret" not in command.lower() and "password" not in command.lower()
    print(f"DagBag: leadscore_daily loads with {len(dag.tasks)} tasks in order, scheduled in Europe/Amsterdam")
    return dag


def check_exit_codes(dag) -> None:
    """Deterministic failures (2, 3, 4) fail at once; 1 and kills are retried; 99 skips."""
    from airflow.exceptions import AirflowException, AirflowFailException, AirflowSkipException

    task = dag.get_task("ingest")
    cases = {0: None, 99: AirflowSkipException, 2: AirflowFailException, 3: AirflowFailException,
             4: AirflowFailException, 1: AirflowException, 137: AirflowException}
    for code, expected in cases.items():
        task.command = lambda code=code: ["sh", "-c", f"exit {code}"]
        try:
            task.execute(context={})
            raised = None
        except Exception as e:  # noqa: BLE001 - the type is what is checked
            raised = e
        if expected is None:
            assert raised is None, (code, raised)
        else:
            assert isinstance(raised, expected), (code, raised)
            # A retryable failure must not be one that stops retries.
            if expected is AirflowException:
                assert not isinstance(raised, (AirflowFailException, AirflowSkipException)), (code, raised)
    # A process killed by a signal (exit code -9 from the hook) is retried too.
    task.command = lambda: ["sh", "-c", "kill -9 $$"]
    try:
        task.execute(context={})
        raise SystemExit("a killed stage must fail the task")
    except AirflowFailException as e:
        raise SystemExit(f"a killed stage must be retried, not failed for good: {e}")
    except AirflowException:
        pass
    print("exit codes: 0 succeeds, 99 skips, 2/3/4 fail without retry, 1 and kills are retried")


def check_partitioned_dagbag():
    """With LEADSCORE_PARTS=3: score (mapped over the parts) and merge replace qualify and value."""
    os.environ["LEADSCORE_PARTS"] = "3"
    try:
        bag = DagBag(dag_folder=str(HERE), include_examples=False)
    finally:
        del os.environ["LEADSCORE_PARTS"]
    assert bag.import_errors == {}, bag.import_errors
    dag = bag.get_dag("leadscore_daily")
    order = ["ingest", "labels", "features", "train", "score", "merge", "export", "channels"]
    assert sorted(t.task_id for t in dag.tasks) == sorted(order), [t.task_id for t in dag.tasks]
    for before, after in zip(order, order[1:]):
        assert dag.get_task(before).downstream_task_ids == {after}, (before, dag.get_task(before).downstream_task_ids)
    score = dag.get_task("score")
    assert type(score).__name__ == "MappedOperator", type(score)
    assert score.expand_input.value == {"partition": ["1/3", "2/3", "3/3"]}, score.expand_input.value
    merge = " ".join(dag.get_task("merge").command())
    assert " merge qualify value --parts 3 --pipeline " in merge, merge
    print("DagBag with LEADSCORE_PARTS=3: score mapped over 1/3, 2/3, 3/3, then merge")


def outputs(run_dir: Path, stages) -> dict:
    """Every file the stages wrote but their manifests, with its SHA-256."""
    return {
        f"{stage}/{f.name}": hashlib.sha256(f.read_bytes()).hexdigest()
        for stage in stages
        for f in sorted((run_dir / stage).iterdir())
        if f.name != "manifest.json" and f.is_file()
    }


def check_partitioned_dags_test() -> None:
    """The scoring stages again, in three mapped parts and a merge: the same outputs."""
    airflow = Path(sys.executable).with_name("airflow")
    run_dir = Path(os.environ["LEADSCORE_CONFIG"]).parent / "runs" / "2026-11-01"
    downstream = ["qualify", "value", "export", "channels"]
    before = outputs(run_dir, downstream)
    for stage in downstream:
        shutil.rmtree(run_dir / stage)
    out = subprocess.run(
        [str(airflow), "dags", "test", "leadscore_daily", "2026-11-01T00:00:00+01:00"],
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "LEADSCORE_PARTS": "3"},
    )
    log = out.stdout + out.stderr
    if out.returncode != 0:
        print(log[-20000:])
        raise SystemExit(f"airflow dags test (3 parts) exited with {out.returncode}")
    assert "state=success" in log, f"the partitioned DAG run did not end in success\n{log[-5000:]}"
    for i in range(1, 4):
        assert (run_dir / f"qualify.part-{i}-of-3" / "manifest.json").exists(), f"part {i}/3 of qualify\n{log[-5000:]}"
        assert (run_dir / f"value.part-{i}-of-3" / "manifest.json").exists(), f"part {i}/3 of value"
    assert "map_index=2" in log, f"the mapped instances ran\n{log[-5000:]}"
    after = outputs(run_dir, downstream)
    assert after == before, sorted(k for k in before.keys() | after.keys() if after.get(k) != before.get(k))
    print(f"airflow dags test with LEADSCORE_PARTS=3: 3 mapped parts merged; {len(before)} outputs as before, byte for byte")


def check_dags_test() -> None:
    airflow = Path(sys.executable).with_name("airflow")
    # A run at local midnight of 2026-11-01 (Amsterdam, UTC+1) covers the local day 2026-10-31:
    # its data interval ends at 2026-10-31T23:00Z, and leadscore's run date is 2026-11-01.
    out = subprocess.run(
        [str(airflow), "dags", "test", "leadscore_daily", "2026-11-01T00:00:00+01:00"],
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
    assert "data_interval_end=2026-10-31 23:00:00+00:00" in log, f"the interval is the local day\n{log[-3000:]}"
    # A UTC schedule would have started this run an hour before the local day was over.
    assert not (run_dir.parent / "2026-10-31").exists(), "no run for the previous local day"
    # A retry or a second run of the same date is a cheap no-op: every stage is up to date.
    again = subprocess.run(
        [os.environ["LEADSCORE_BIN"], "run", "--pipeline", os.environ["LEADSCORE_PIPELINE"], "--config",
         os.environ["LEADSCORE_CONFIG"], "--date", "2026-11-01", "--json"],
        capture_output=True, text=True, check=True,
    )
    statuses = [s["status"] for s in json.loads(again.stdout)["stages"]]
    assert statuses == ["skipped"] * len(STAGES), statuses
    print("airflow dags test leadscore_daily 2026-11-01T00:00+01:00: every task succeeded; outputs in", run_dir)


if __name__ == "__main__":
    dag = check_dagbag()
    check_exit_codes(dag)
    check_partitioned_dagbag()
    check_dags_test()
    check_partitioned_dags_test()
