"""Reads every Parquet file under a folder with pyarrow and with DuckDB, as a data scientist would,
and prints what each reader saw as JSON: per file, the rows, and per column the name, the type
and the nulls (pyarrow), and the rows and column types DuckDB reports.

    python tests/interop/read_parquet.py FOLDER

Used by `tests/cli.rs` (`every_parquet_output_opens_in_pyarrow_10_and_duckdb`) with the pinned
old pyarrow and DuckDB of `.ci/interop.sh`. A file a reader cannot open is reported with the
reader's error, not raised, so that one run lists every failure.
"""

import json
import pathlib
import sys

import duckdb
import pyarrow
import pyarrow.parquet as pq


def read(path):
    seen = {"path": str(path)}
    try:
        table = pq.read_table(path)
        seen["rows"] = table.num_rows
        seen["columns"] = [
            {"name": f.name, "type": str(f.type), "nulls": table.column(f.name).null_count} for f in table.schema
        ]
    except Exception as e:  # noqa: BLE001 - reported, see the docstring
        seen["pyarrow_error"] = f"{type(e).__name__}: {e}"
    try:
        con = duckdb.connect()
        quoted = str(path).replace("'", "''")
        seen["duckdb_rows"] = con.execute(f"select count(*) from read_parquet('{quoted}')").fetchone()[0]
        described = con.execute(f"describe select * from read_parquet('{quoted}')").fetchall()
        seen["duckdb_types"] = [row[1] for row in described]
    except Exception as e:  # noqa: BLE001
        seen["duckdb_error"] = f"{type(e).__name__}: {e}"
    return seen


def main():
    root = pathlib.Path(sys.argv[1])
    files = sorted(root.rglob("*.parquet"))
    out = {"pyarrow": pyarrow.__version__, "duckdb": duckdb.__version__, "files": [read(f) for f in files]}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
