"""Issue 22: the floor of the DAG's data preparation. The expert peer's own polars code (its read,
labels and features, `../shared/peer/expert.py`) with the Parquet hand-offs DESIGN requires between
stages (ingest writes the leads and deals, labels reads them and writes the labels, features reads
leads and labels and writes the features, train reads them): how fast a preparation can be on this
engine when it checks nothing, rejects nothing, reads only the columns the expert uses and audits
no attribute.

    target/peer-venv/bin/python benches/prep_floor.py DIR [--runs 3]

DIR is a `benches/peer.py` folder (its CSVs and the `meta.json` peer.py writes). Prints each
phase's median seconds over the runs, and the median total.
"""
import argparse, json, os, statistics, sys, tempfile, time

import polars as pl

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "..", "shared", "peer"))
from expert import FREE, ts  # noqa: E402  (the expert's own timestamp parser and free-mail list)


def once(d, meta, tmp):
    t = {}
    p = lambda name: os.path.join(tmp, name)
    lid, created_col = meta["lead_id"], meta["lead_created"]
    cols = [lid, created_col] + meta["attributes"] + ([meta["email"]] if meta.get("email") else [])
    deal_cols = [meta["deal_lead"], meta["deal_time"], meta["deal_value"]] + list(meta["conversion"])

    t0 = time.perf_counter()
    leads = pl.read_csv(os.path.join(d, meta["leads"]), columns=cols, infer_schema_length=10000,
                        schema_overrides={lid: pl.Utf8, created_col: pl.Utf8})
    deals = pl.read_csv(os.path.join(d, meta["deals"]), columns=deal_cols,
                        schema_overrides={meta["deal_lead"]: pl.Utf8, meta["deal_time"]: pl.Utf8})
    leads = leads.with_columns(ts(created_col).alias("created")).drop(created_col)
    deals = deals.with_columns(ts(meta["deal_time"]).alias("ts")).drop(meta["deal_time"])
    t["ingest: read and parse"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    leads.write_parquet(p("leads.parquet"), compression="snappy")
    deals.write_parquet(p("deals.parquet"), compression="snappy")
    t["ingest: write"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    leads = pl.read_parquet(p("leads.parquet"), columns=[lid, "created"])
    conv = pl.read_parquet(p("deals.parquet"))
    for k, v in meta["conversion"].items():
        conv = conv.filter(pl.col(k).cast(pl.Utf8).str.to_lowercase() == str(v).lower())
    w = pl.duration(days=meta["window_days"])
    lab = (leads.join(conv.select(pl.col(meta["deal_lead"]).alias(lid), "ts", pl.col(meta["deal_value"]).alias("amt")),
                      on=lid)
           .filter((pl.col("ts") >= pl.col("created")) & (pl.col("ts") < pl.col("created") + w))
           .group_by(lid).agg(pl.col("amt").sum().alias("value")))
    leads.join(lab, on=lid, how="left").with_columns(
        pl.col("value").is_not_null().alias("y"), pl.col("value").fill_null(0.0)).write_parquet(
        p("labels.parquet"), compression="snappy")
    t["labels"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    leads = pl.read_parquet(p("leads.parquet")).join(pl.read_parquet(p("labels.parquet")).drop("created"), on=lid)
    exprs = [pl.col(lid), pl.col("y"), pl.col("value")]
    for a in meta["attributes"]:
        if leads.schema[a] in (pl.Utf8, pl.String):
            exprs.append((pl.col(a).rank("dense") - 1).cast(pl.Float64).alias(a))
        else:
            exprs.append(pl.col(a).cast(pl.Float64).alias(a))
    if meta.get("email"):
        exprs.append(pl.col(meta["email"]).str.strip_chars().str.to_lowercase().str.split("@").list.last()
                     .is_in(FREE).cast(pl.Float64).alias("email_free"))
    exprs += [pl.col("created").dt.hour().cast(pl.Float64).alias("hour"),
              pl.col("created").dt.weekday().cast(pl.Float64).alias("dow")]
    leads.select(exprs).write_parquet(p("features.parquet"), compression="snappy")
    t["features"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    pl.read_parquet(p("features.parquet")).drop(lid).to_numpy()
    t["train: read"] = time.perf_counter() - t0
    return t


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    if a.runs < 1:
        raise SystemExit("--runs must be at least 1")
    path = os.path.join(a.dir, "meta.json")
    if not os.path.exists(path):
        raise SystemExit(f"{path} not found: run benches/peer.py on this folder first")
    meta = json.load(open(path))
    runs = []
    for _ in range(a.runs):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(once(a.dir, meta, tmp))
    for k in runs[0]:
        print(f"{k:24s}{statistics.median(r[k] for r in runs):6.2f} s")
    print(f"{'total':24s}{statistics.median(sum(r.values()) for r in runs):6.2f} s   (median of {a.runs} runs)")


if __name__ == "__main__":
    main()
