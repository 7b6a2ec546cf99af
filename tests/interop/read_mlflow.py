"""Reads back, with MLflow's own client, the runs of one experiment, as a data scientist would,
and prints them as JSON: per run its id, status, name, parameters, metrics, tags and every
artifact (recursively) with its size.

    MLFLOW_TRACKING_URI=http://127.0.0.1:5055 python tests/interop/read_mlflow.py EXPERIMENT

Used by `tests/cli.rs` (`training_logs_a_run_to_a_real_mlflow_server`) with the server and the
MLflow `.ci/mlflow.sh` starts and installs.
"""

import json
import sys

from mlflow.tracking import MlflowClient


def artifacts(client, run_id, path=None):
    for a in client.list_artifacts(run_id, path):
        if a.is_dir:
            yield from artifacts(client, run_id, a.path)
        else:
            yield {"path": a.path, "bytes": a.file_size}


def main():
    client = MlflowClient()
    experiment = client.get_experiment_by_name(sys.argv[1])
    runs = client.search_runs([experiment.experiment_id]) if experiment else []
    out = [
        {
            "run_id": r.info.run_id,
            "experiment_id": r.info.experiment_id,
            "status": r.info.status,
            "name": r.info.run_name,
            "params": r.data.params,
            "metrics": r.data.metrics,
            "tags": r.data.tags,
            "artifacts": list(artifacts(client, r.info.run_id)),
        }
        for r in runs
    ]
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
