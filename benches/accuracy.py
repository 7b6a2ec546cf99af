#!/usr/bin/env python3
"""Accuracy of a trained leadscore model against the synthetic truth and the peer baseline.

Usage: python3 benches/accuracy.py DIR [--peer ../shared/peer/reference.py]

DIR is a `leadscore synth` export on which `leadscore run --config DIR/leadscore.toml` has run
(so DIR/models/champion.json exists). Prints, on the champion's out-of-time validation leads:
its ROC AUC and expected calibration error (10 equal-count bins) from validation.parquet (the
out-of-sample probabilities training wrote), and the AUC of the true probabilities from
DIR/truth.parquet on the same leads.

With --peer (Salesforce-shaped exports; HubSpot's epoch-millisecond timestamps are not parsed by
the peer script) it also writes DIR/meta.json for the peer's reference.py with the same target
(Closed Won, New Business), window and validation date range, runs it, and prints its AUC.
Needs pandas, pyarrow and scikit-learn (and lightgbm for --peer).
"""
import json, os, subprocess, sys, time
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score


def ece(y, p, bins=10):
    order = np.argsort(p, kind="stable")
    n = len(p)
    total = 0.0
    for b in range(bins):
        idx = order[b * n // bins:(b + 1) * n // bins]
        if len(idx):
            total += len(idx) / n * abs(p[idx].mean() - y[idx].mean())
    return total


def evaluate(d):
    """The champion's out-of-time figures on its validation leads, and the truth's AUC there."""
    champion = json.load(open(os.path.join(d, "models", "champion.json")))
    mdir = os.path.join(d, "models", champion["model_id"])
    v = pd.read_parquet(os.path.join(mdir, "validation.parquet"))
    truth = pd.read_parquet(os.path.join(d, "truth.parquet"))
    m = v.merge(truth[["lead_id", "true_probability"]], on="lead_id", how="left")
    y = m.converted.astype(int).values
    p = m.probability.values
    out = {
        "model_id": champion["model_id"],
        "validation_leads": int(len(m)),
        "validation_conversions": int(y.sum()),
        "auc": round(roc_auc_score(y, p), 4),
        "truth_auc_same_leads": round(roc_auc_score(y, m.true_probability.values), 4),
        "ece": round(ece(y, p), 4),
        "mean_probability": round(float(p.mean()), 4),
        "observed_rate": round(float(y.mean()), 4),
    }
    out["auc_gap_to_truth"] = round(out["truth_auc_same_leads"] - out["auc"], 4)
    return out


PEER_ATTRIBUTES = ["Title", "LeadSource", "Industry", "NumberOfEmployees", "Country", "UTM_Source__c",
                   "UTM_Medium__c", "UTM_Campaign__c", "Budget__c", "Timeline__c", "Product_Interest__c"]


def peer_meta(d):
    """meta.json for the peer's reference.py: the same target, window and evaluation leads (the
    champion's validation range), and the attributes a data scientist would use (the extra ones
    of `synth --extra-attributes` included)."""
    if not os.path.exists(os.path.join(d, "Lead.csv")):
        sys.exit("the peer needs a Salesforce-shaped export (synth --shape salesforce)")
    champion = json.load(open(os.path.join(d, "models", "champion.json")))
    training = json.load(open(os.path.join(d, "models", champion["model_id"], "training.json")))
    vfrom = date.fromisoformat(training["validation"]["from"][:10])
    vto = date.fromisoformat(training["validation"]["to"][:10])
    window = int(training["window_days"])
    header = open(os.path.join(d, "Lead.csv")).readline().strip().split(",")
    extra = [c.strip('"') for c in header if c.strip('"').lower().startswith("extra")]
    return {
        "leads": "Lead.csv", "deals": "Opportunity.csv",
        "lead_id": "ConvertedAccountId", "lead_created": "CreatedDate",
        "deal_lead": "AccountId", "deal_time": "CloseDate", "deal_value": "Amount",
        "conversion": {"StageName": "Closed Won", "Type": "New Business"},
        "window_days": window,
        "train_as_of": (vfrom + timedelta(days=window)).isoformat(),
        "eval_leads_from": vfrom.isoformat(), "eval_leads_to": vto.isoformat(),
        "attributes": PEER_ATTRIBUTES + extra,
        "email": "Email",
    }


def main():
    d = sys.argv[1]
    out = evaluate(d)
    if "--peer" in sys.argv:
        peer = sys.argv[sys.argv.index("--peer") + 1]
        json.dump(peer_meta(d), open(os.path.join(d, "meta.json"), "w"), indent=1)
        t0 = time.perf_counter()
        res = json.loads(subprocess.run([sys.executable, peer, d], check=True, capture_output=True, text=True).stdout)
        out["peer"] = {"n_eval": res["n_eval"], "n_eval_pos": res["n_eval_pos"], "lightgbm_auc": round(res["lightgbm"]["auc"], 4),
                       "logistic_auc": round(res["logistic"]["auc"], 4), "seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
