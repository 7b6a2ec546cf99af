#!/usr/bin/env python3
"""leadscore and both peers, out of time on the same leads, on a panel of real public data sets.

Usage:
    python3 benches/panel.py [--bin target/release/leadscore] [--dir target/panel]
                             [--only NAME ...] [--resamples 1000] [--train 'KEY = VALUE' ...]
                             [--monotone] [--seeds K]

The data sets ship inside Debian's R packages (nothing is downloaded at run time):

    apt-get install r-cran-modeldata r-cran-caret

`benches/panel/datasets.R` writes their tables as CSV (once, into DIR/raw); each is then turned
into a CRM-shaped export in DIR/NAME: `leads.csv` (one row per application or customer, its
attributes as they are), `deals.csv` (one won deal per converted lead, closed 2 to 25 days after
creation, its amount the lead's value), a `leadscore.toml` written from the README's
configuration reference, and the peers' `meta.json`.

None of these tables carries the time a row was created, so each lead gets a creation time drawn
uniformly over 2025 (seeded): the out-of-time split is then a random one, and what is measured
is the learners and their calibration, not drift. One draw's figures move with the draw (a few
hundred conversions are scored); `--seeds K` repeats each data set with K draws of the creation
times and ends with the means over the draws. Every model learns from the leads whose 30-day
window had ended by 2025-10-01 and is scored on the leads created from 2025-10-01 to
2025-12-31 (all matured by the outcome date, 2026-02-15):

- leadscore: `leadscore backtest --from 2025-10-01 --to 2025-12-31 --as-of 2026-02-15`
  (`[train] retrain_after_days = 92`: one model, trained as of 2025-10-01), its scored leads read
  from `backtest_leads.parquet`;
- the peers `../shared/peer/expert.py` (polars + LightGBM on native categoricals) and
  `../shared/peer/reference.py` (pandas + scikit-learn + LightGBM), each with `train_as_of`
  2025-10-01 and the same evaluation leads, their scores from `--out`.

Prints per data set: ROC AUC, log loss, expected calibration error (10 equal-count bins), value
Gini and value total / actual for leadscore and each peer model; then leadscore's AUC against
the best peer model's AUC and its log loss against the best peer model's log loss, with 95%
paired bootstrap intervals of the differences; and what sampling alone allows on so few leads:
bootstrap intervals of leadscore's value total / actual and expected / actual conversions, its
value given conversion (predicted value / probability) against the actual value of the converted
leads (which half of predicted value is off), and
the ECE a perfectly calibrated model shows on these leads (outcomes drawn from its own
probabilities), and how far a perfect value model's total is from the actual by chance alone
(outcomes drawn from the probabilities, deal sizes from the converted leads' own spread).
Writes DIR/panel.json. Needs numpy, pandas, pyarrow, polars,
scipy, scikit-learn and lightgbm (`target/peer-venv`, see benches/peer.py) and a release build.
"""
import argparse, json, os, re, shutil, subprocess, sys
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(ROOT, "..", "shared", "peer")
START = datetime(2025, 1, 1, tzinfo=timezone.utc)
EVAL_FROM, EVAL_TO, AS_OF, WINDOW = "2025-10-01", "2025-12-31", "2026-02-15", 30

# name: (raw table, (target column, converted level), value of a conversion, what it is)
DATASETS = {
    "german_credit": ("german_credit", ("Class", "Bad"), lambda d: d["Amount"],
                      "caret GermanCredit: 1,000 credit applications, 61 attributes (dummy-coded), "
                      "conversion = a bad credit, value = the amount"),
    "credit_data": ("credit_data", ("Status", "bad"), lambda d: d["Amount"],
                    "modeldata credit_data: 4,454 credit applications, 13 attributes, "
                    "conversion = a bad credit, value = the amount"),
    "mlc_churn": ("mlc_churn", ("churn", "yes"),
                  lambda d: d[["total_day_charge", "total_eve_charge", "total_night_charge", "total_intl_charge"]].sum(axis=1),
                  "modeldata mlc_churn: 5,000 phone customers, 19 attributes, conversion = churn, "
                  "value = the monthly charges lost"),
    "lending_club": ("lending_club", ("Class", "bad"), lambda d: d["funded_amnt"],
                     "modeldata lending_club: 9,857 loans, 22 attributes, conversion = a bad loan, "
                     "value = the funded amount"),
}

# `--monotone`: what an analyst of each domain would declare before seeing any result (a bad
# credit is likelier on longer loans and for younger, poorer, more indebted applicants; churn on
# more service calls and bigger bills; a bad loan at a higher rate, lower income, more recent
# inquiries and a fuller revolving line). Names as the exports write them.
MONOTONE = {
    "german_credit": {"duration": "increasing", "installmentratepercentage": "increasing", "age": "decreasing"},
    "credit_data": {"seniority": "decreasing", "income": "decreasing", "assets": "decreasing", "debt": "increasing"},
    "mlc_churn": {"number_customer_service_calls": "increasing", "total_day_minutes": "increasing",
                  "total_day_charge": "increasing"},
    "lending_club": {"int_rate": "increasing", "annual_inc": "decreasing", "inq_last_6mths": "increasing",
                     "revol_util": "increasing", "delinq_2yrs": "increasing"},
}


def snake(name):
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def export(name, raw, d, seed, train_options=()):
    """The CRM-shaped export of one raw table in folder d: leads, deals, config, peer meta."""
    table, (target, level), value, _ = DATASETS[name]
    df = pd.read_csv(os.path.join(raw, table + ".csv"))
    rng = np.random.default_rng(seed)
    y = (df[target].astype(str) == level).to_numpy()
    amount = value(df).astype(float).round(2).to_numpy()
    attrs = [c for c in df.columns if c != target]
    created = [START + timedelta(seconds=float(s)) for s in rng.uniform(0, 365 * 86400, len(df))]
    leads = pd.DataFrame({"lead_id": [f"L{i:06d}" for i in range(len(df))], "created_at": [iso(t) for t in created]})
    names = {}
    for c in attrs:
        names[c] = snake(c)
        leads[names[c]] = df[c]
    os.makedirs(d, exist_ok=True)
    leads.to_csv(os.path.join(d, "leads.csv"), index=False)
    won = np.flatnonzero(y)
    close = [created[i] + timedelta(days=float(rng.uniform(2, 25))) for i in won]
    deals = pd.DataFrame({
        "deal_id": [f"D{i:06d}" for i in won], "lead_id": leads.lead_id.to_numpy()[won],
        "created_at": [iso(created[i] + timedelta(days=1)) for i in won], "closed_at": [iso(t) for t in close],
        "stage": "Won", "amount": amount[won]})
    deals.to_csv(os.path.join(d, "deals.csv"), index=False)
    kinds = {names[c]: ("numeric" if pd.api.types.is_numeric_dtype(df[c]) else "categorical") for c in attrs}
    config = [
        "# Written by benches/panel.py from the README's configuration reference.",
        "[project]", f'name = "panel-{name}"', 'currency = "EUR"', 'timezone = "UTC"', 'output_dir = "out"',
        'models_dir = "models"', f'default_run_date = "{AS_OF}"', "",
        "[sources.leads]", 'path = "leads.csv"',
        'mapping = { lead_id = "lead_id", created_at = "created_at", user_id = "lead_id" }', "",
        "[sources.deals]", 'path = "deals.csv"',
        'mapping = { deal_id = "deal_id", user_id = "lead_id", created_at = "created_at", closed_at = "closed_at", '
        'stage = "stage", amount = "amount" }', "",
    ]
    for a, kind in kinds.items():
        config += ["[[attributes]]", f'column = "{a}"', f'kind = "{kind}"', ""]
    config += [
        "[[conversions]]", 'name = "converted"', 'source = "deals"',
        'conditions = [{ field = "stage", op = "is", value = "Won" }]', "",
        "[labels]", 'target = "converted"', f"window_days = {WINDOW}", "min_conversions = 50", "",
        "[train]", "retrain_after_days = 92", *train_options, "",
    ]
    with open(os.path.join(d, "leadscore.toml"), "w") as f:
        f.write("\n".join(config))
    meta = {
        "leads": "leads.csv", "deals": "deals.csv", "lead_id": "lead_id", "lead_created": "created_at",
        "deal_lead": "lead_id", "deal_time": "closed_at", "deal_value": "amount", "conversion": {"stage": "Won"},
        "window_days": WINDOW, "train_as_of": EVAL_FROM, "eval_leads_from": EVAL_FROM, "eval_leads_to": EVAL_TO,
        "attributes": list(kinds), "email": None,
    }
    json.dump(meta, open(os.path.join(d, "meta.json"), "w"), indent=1)
    return len(df), int(y.sum())


def ece(y, p, bins=10):
    order = np.argsort(p, kind="stable")
    n, total = len(p), 0.0
    for b in range(bins):
        idx = order[b * n // bins:(b + 1) * n // bins]
        if len(idx):
            total += len(idx) / n * abs(p[idx].mean() - y[idx].mean())
    return total


def log_loss(y, p):
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def gini(actual, pred):
    def g(order):
        a = actual[order]
        cum = np.cumsum(a) / max(1e-12, a.sum())
        return cum.mean() - (len(a) + 1) / (2 * len(a))
    best = g(np.argsort(-actual, kind="stable"))
    return float(g(np.argsort(-pred, kind="stable")) / best) if best else 0.0


def figures(y, p, value, predicted):
    return {"auc": roc_auc_score(y, p), "log_loss": log_loss(y, p), "ece": ece(y, p),
            "value_gini": gini(value, predicted), "value_ratio": float(predicted.sum() / max(1e-9, value.sum()))}


def paired_interval(y, p, q, metric, resamples, seed):
    """95% bootstrap interval of metric(y, p) - metric(y, q) over resampled leads."""
    rng = np.random.default_rng(seed)
    n, diffs = len(y), []
    for _ in range(resamples):
        i = rng.integers(0, n, n)
        if y[i].min() == y[i].max():
            continue
        diffs.append(metric(y[i], p[i]) - metric(y[i], q[i]))
    return float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))


def ratio_interval(actual, predicted, resamples, seed):
    """95% bootstrap interval of sum(predicted) / sum(actual) over resampled leads."""
    rng = np.random.default_rng(seed)
    n, ratios = len(actual), []
    for _ in range(resamples):
        i = rng.integers(0, n, n)
        if actual[i].sum() > 0:
            ratios.append(predicted[i].sum() / actual[i].sum())
    return float(np.percentile(ratios, 2.5)), float(np.percentile(ratios, 97.5))


def ece_by_chance(p, resamples, seed):
    """The ECE a perfectly calibrated model shows on these leads: outcomes drawn from p itself;
    the median and the 95th percentile."""
    rng = np.random.default_rng(seed)
    e = [ece((rng.random(len(p)) < p).astype(int), p) for _ in range(resamples)]
    return float(np.median(e)), float(np.percentile(e, 95))


def value_by_chance(y, value, p, predicted, resamples, seed):
    """How far a perfect value model's total is from the actual on these leads by chance alone:
    each lead converts with its probability p (a perfectly calibrated model) and its value given
    conversion, predicted / p, is what a perfect model expects; a draw's actual value is that
    times a deal-size factor resampled from the converted leads' own spread (actual value over
    its mean). The median and the 95th percentile of |predicted total / drawn total - 1|."""
    keep = p > 0
    p, m = p[keep], predicted[keep] / p[keep]
    sizes = value[(y == 1) & (value > 0)]
    if len(sizes) == 0 or m.sum() <= 0:
        return float("nan"), float("nan")
    factors = sizes / sizes.mean()
    rng = np.random.default_rng(seed)
    expected, off = float((p * m).sum()), []
    for _ in range(resamples):
        drawn = float(((rng.random(len(p)) < p) * m * rng.choice(factors, len(p))).sum())
        if drawn > 0:
            off.append(abs(expected / drawn - 1))
    if not off:  # no draw converted a lead: nothing to compare with
        return float("nan"), float("nan")
    return float(np.median(off)), float(np.percentile(off, 95))


def run(cmd, cwd=None):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stdout[-3000:] + p.stderr[-5000:])
        raise SystemExit(f"{' '.join(cmd)}: exit {p.returncode}")
    return p.stdout


def evaluate(name, d, binary, resamples):
    """Runs leadscore's backtest and both peers in d; the figures of every model on the same leads."""
    shutil.rmtree(os.path.join(d, "out"), ignore_errors=True)
    shutil.rmtree(os.path.join(d, "models"), ignore_errors=True)
    run([binary, "backtest", "--config", os.path.join(d, "leadscore.toml"), "--from", EVAL_FROM, "--to", EVAL_TO,
         "--as-of", AS_OF, "--json"])
    ls = pd.read_parquet(os.path.join(d, "out", "backtest", f"{EVAL_FROM}_{EVAL_TO}", "backtest_leads.parquet"))
    train_report = None
    for root, _, files in os.walk(os.path.join(d, "out", "backtest")):
        if "metrics.json" in files:
            train_report = json.load(open(os.path.join(root, "metrics.json")))
    scores = {}
    for peer in ("expert", "reference"):
        out = os.path.join(d, f"{peer}.csv")
        run([sys.executable, os.path.join(PEERS, f"{peer}.py"), d, "--out", out])
        scores[peer] = pd.read_csv(out, dtype={"lead_id": str})
    m = ls.rename(columns={"probability": "p_leadscore", "predicted_value": "v_leadscore"})
    for peer, s in scores.items():
        s = s.rename(columns={"p_lightgbm": f"p_{peer}_lightgbm", "p_logistic": f"p_{peer}_logistic",
                              "pred_value": f"v_{peer}", "y": f"y_{peer}", "value": f"value_{peer}"})
        m = m.merge(s, on="lead_id", how="inner")
    y = m.converted.astype(int).to_numpy()
    disagree = int((y != m.y_expert.to_numpy()).sum() + (y != m.y_reference.to_numpy()).sum())
    value = m.value_in_window.fillna(0.0).to_numpy()
    models = {
        "leadscore": ("p_leadscore", "v_leadscore"),
        "expert LightGBM": ("p_expert_lightgbm", "v_expert"),
        "expert logistic": ("p_expert_logistic", "v_expert"),
        "reference LightGBM": ("p_reference_lightgbm", "v_reference"),
        "reference logistic": ("p_reference_logistic", "v_reference"),
    }
    table = {k: figures(y, m[p].to_numpy(), value, m[v].to_numpy()) for k, (p, v) in models.items()}
    peers = [k for k in table if k != "leadscore"]
    best = max(peers, key=lambda k: table[k]["auc"])
    best_ll = min(peers, key=lambda k: table[k]["log_loss"])
    p = m["p_leadscore"].to_numpy()
    q, q_ll = m[models[best][0]].to_numpy(), m[models[best_ll][0]].to_numpy()
    chosen, encoding = None, None
    if train_report:
        chosen = train_report.get("chosen")
        encoding = (train_report.get("encoding") or {}).get("chosen")
    return {
        "leads_compared": int(len(m)), "conversions": int(y.sum()), "leadscore_scored": int(len(ls)),
        "label_disagreements": disagree, "leadscore_model": chosen, "category_order": encoding, "table": table,
        "best_peer": best, "best_peer_log_loss": best_ll,
        "auc_diff": table["leadscore"]["auc"] - table[best]["auc"],
        "auc_diff_95": paired_interval(y, p, q, roc_auc_score, resamples, 7),
        "log_loss_diff": table["leadscore"]["log_loss"] - table[best_ll]["log_loss"],
        "log_loss_diff_95": paired_interval(y, p, q_ll, log_loss, resamples, 8),
        "value_ratio_95": ratio_interval(value, m["v_leadscore"].to_numpy(), resamples, 9),
        "expected_conversions_ratio": float(p.sum() / max(1, y.sum())),
        "conditional_value_ratio": conditional_value_ratio(y, value, p, m["v_leadscore"].to_numpy()),
        "expected_conversions_ratio_95": ratio_interval(y.astype(float), p, resamples, 10),
        "ece_by_chance": ece_by_chance(p, resamples, 11),
        "value_by_chance": value_by_chance(y, value, p, m["v_leadscore"].to_numpy(), resamples, 12),
    }


def conditional_value_ratio(y, value, p, predicted):
    """The value model's own level: over the converted leads with a value, the predicted value given
    conversion (predicted value / probability) against the actual value, totals. With the
    expected/actual conversions it tells which half of predicted value is off."""
    keep = (y == 1) & (value > 0) & (p > 0)
    return float((predicted[keep] / p[keep]).sum() / max(1e-9, value[keep].sum()))


def print_run(name, r):
    print(f"  {r['leads_compared']} leads scored out of time by every model ({r['conversions']} converted); "
          f"leadscore chose {r['leadscore_model']}"
          + (f" (categories of many levels ordered by {r['category_order']})" if r.get("category_order") else "")
          + f"; labels that differ from the peers': {r['label_disagreements']}")
    print(f"  {'model':<20} {'AUC':>7} {'log loss':>9} {'ECE':>7} {'value Gini':>11} {'value ratio':>12}")
    for k, f in r["table"].items():
        print(f"  {k:<20} {f['auc']:>7.4f} {f['log_loss']:>9.4f} {f['ece']:>7.4f} {f['value_gini']:>11.3f} "
              f"{f['value_ratio']:>12.3f}")
    print(f"  AUC: leadscore - {r['best_peer']} {r['auc_diff']:+.4f} (95% {r['auc_diff_95'][0]:+.4f} .. "
          f"{r['auc_diff_95'][1]:+.4f}); log loss: leadscore - {r['best_peer_log_loss']} {r['log_loss_diff']:+.4f} "
          f"(95% {r['log_loss_diff_95'][0]:+.4f} .. {r['log_loss_diff_95'][1]:+.4f})")
    v, e, c = r["value_ratio_95"], r["ece_by_chance"], r["expected_conversions_ratio_95"]
    print(f"  leadscore: value total/actual {r['table']['leadscore']['value_ratio']:.3f} (95% {v[0]:.3f} .. {v[1]:.3f}); "
          f"expected/actual conversions {r['expected_conversions_ratio']:.3f} (95% {c[0]:.3f} .. {c[1]:.3f}); "
          f"value given conversion predicted/actual {r['conditional_value_ratio']:.3f}; "
          f"ECE of a perfectly calibrated model on these leads: median {e[0]:.4f}, 95th percentile {e[1]:.4f}")
    f = r["value_by_chance"]
    print(f"  a perfect value model's total on these leads is off the actual by chance: median {f[0]:.3f}, "
          f"95th percentile {f[1]:.3f}")


def print_summary(runs):
    """Means over the draws of each data set: one split's figures move with the draw (a few hundred
    conversions), their means over several draws show what a change does."""
    print("\nmeans over the draws of creation times (|x - 1| is the mean distance of a ratio from 1)")
    print(f"  {'data set':<14} {'model':<20} {'AUC':>7} {'log loss':>9} {'ECE':>7} {'|value ratio-1|':>16} "
          f"{'|expected/actual-1|':>20} {'|value given conversion-1|':>27} {'ECE by chance':>18} "
          f"{'|value ratio-1| by chance':>20}")
    for name, rs in runs.items():
        for k in rs[0]["table"]:
            t = [r["table"][k] for r in rs]
            mean = lambda key: float(np.mean([f[key] for f in t]))
            off = float(np.mean([abs(f["value_ratio"] - 1) for f in t]))
            level = ""
            if k == "leadscore":
                level = (f"{np.mean([abs(r['expected_conversions_ratio'] - 1) for r in rs]):>21.3f}"
                         f"{np.mean([abs(r['conditional_value_ratio'] - 1) for r in rs]):>28.3f}"
                         f"{np.mean([r['ece_by_chance'][0] for r in rs]):>19.4f}"
                         f"{np.mean([r['value_by_chance'][0] for r in rs]):>21.3f}")
            print(f"  {name:<14} {k:<20} {mean('auc'):>7.4f} {mean('log_loss'):>9.4f} {mean('ece'):>7.4f} {off:>16.3f}{level}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "leadscore"))
    ap.add_argument("--dir", default=os.path.join(ROOT, "target", "panel"))
    ap.add_argument("--only", nargs="*", default=list(DATASETS))
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--seeds", type=int, default=1,
                    help="draws of the creation times per data set (the first is the default panel's); with more "
                         "than one, the means over the draws follow the tables")
    ap.add_argument("--train", action="append", default=[], metavar="KEY=VALUE",
                    help="a line added to each config's [train] (to measure a setting: --train 'refit = false')")
    ap.add_argument("--monotone", action="store_true",
                    help="declare each data set's MONOTONE features in its config's [train] monotone")
    args = ap.parse_args()
    raw = os.path.join(args.dir, "raw")
    if not all(os.path.exists(os.path.join(raw, DATASETS[n][0] + ".csv")) for n in args.only):
        run(["Rscript", os.path.join(ROOT, "benches", "panel", "datasets.R"), raw])
    results, runs = {}, {}
    for name in args.only:
        d = os.path.join(args.dir, name)
        options = list(args.train)
        if args.monotone:
            options.append("monotone = { " + ", ".join(f'{k} = "{v}"' for k, v in MONOTONE[name].items()) + " }")
        for draw in range(args.seeds):
            # The seed is the data set's own, so that `--only` exports the same leads as the whole
            # panel; later draws add a multiple of a prime.
            seed = 1000 + list(DATASETS).index(name) + 7919 * draw
            leads, conversions = export(name, raw, d, seed=seed, train_options=options)
            label = f" (draw {draw + 1} of {args.seeds}, seed {seed})" if args.seeds > 1 else ""
            print(f"\n{name}{label}: {DATASETS[name][3]} ({leads} leads, {conversions} converted)")
            r = evaluate(name, d, os.path.abspath(args.bin), args.resamples)
            r["seed"] = seed
            runs.setdefault(name, []).append(r)
            print_run(name, r)
        results[name] = runs[name][0] if args.seeds == 1 else runs[name]
    if args.seeds > 1:
        print_summary(runs)
    out = os.path.join(args.dir, "panel.json")
    json.dump({"train_options": args.train, "monotone": args.monotone, "seeds": args.seeds, "datasets": results},
              open(out, "w"), indent=1)
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    main()
