"""Drives the real `delta-sharing` Python connector against a sharing server
for the Go integration tests (serve/sharing/python_test.go,
cmd/sluice/sharing_e2e_test.go).

Reads a JSON spec on stdin: {"profile": PATH, "ops": [...]}, each op one of
  {"op": "list_all_tables"}
  {"op": "load", "table": "share.schema.table", "limit": N, "version": N,
   "timestamp": S, "jsonPredicateHints": S, "use_delta_format": BOOL}
  {"op": "changes", "table": ..., "starting_version": N, "ending_version": N,
   "use_delta_format": BOOL}
  {"op": "paged_files", "table": ..., "max_files": N}
and prints a JSON list with one result per op: {"tables": [...]} or
{"rows": [...]} (rows in the canonical form of the delta-rs oracle), or
{"error": "..."}; paged_files gives {"files": [ids], "pages": N,
"versions": [...]}: the query's files read page by page (maxFiles,
pageToken) through the connector's REST client, each line parsed by its
protocol classes (its own query call has no pagination in 1.4.2). An op may carry its own "profile" (another recipient's).
Rows are canonicalized by deltars_read.canonical, beside this script.
"""
import datetime
import json
import math
import os
import sys

spec = json.load(sys.stdin)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import delta_sharing  # noqa: E402
from deltars_read import canonical  # noqa: E402


def plain(v):
    """pandas/numpy values as the Python values the oracle canonicalizes."""
    if v is None or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, np.ndarray):
        return [plain(x) for x in v.tolist()]
    return v


def rows(df):
    return [canonical({k: plain(v) for k, v in r.items()}) for r in df.to_dict(orient="records")]


def run(op, profile):
    url = profile + "#" + op.get("table", "")
    if op["op"] == "list_all_tables":
        client = delta_sharing.SharingClient(profile)
        return {"tables": sorted(f"{t.share}.{t.schema}.{t.name}" for t in client.list_all_tables())}
    if op["op"] == "load":
        kw = {k: op[k] for k in ("limit", "version", "timestamp", "jsonPredicateHints", "use_delta_format") if k in op}
        return {"rows": rows(delta_sharing.load_as_pandas(url, **kw))}
    if op["op"] == "changes":
        kw = {k: op[k] for k in ("starting_version", "ending_version", "starting_timestamp", "use_delta_format") if k in op}
        return {"rows": rows(delta_sharing.load_table_changes_as_pandas(url, **kw))}
    if op["op"] == "paged_files":
        return paged_files(op, profile)
    raise ValueError(f"unknown op {op['op']}")


def paged_files(op, profile):
    from delta_sharing.protocol import AddFile, DeltaSharingProfile, Metadata, Protocol
    from delta_sharing.rest_client import DataSharingRestClient

    share, schema, name = op["table"].split(".")
    client = DataSharingRestClient(DeltaSharingProfile.read_from_file(profile))
    path = f"/shares/{share}/schemas/{schema}/tables/{name}/query"
    ids, versions, pages, token = [], [], 0, None
    while True:
        data = {"maxFiles": op["max_files"]}
        if token:
            data["pageToken"] = token
        with client._post_internal(path, data=data, return_headers=True) as (headers, lines):
            versions.append(int(headers["delta-table-version"]))
            Protocol.from_json(json.loads(next(lines))["protocol"])
            Metadata.from_json(json.loads(next(lines))["metaData"])
            token = None
            for line in lines:
                obj = json.loads(line)
                if "endStreamAction" in obj:
                    token = obj["endStreamAction"].get("nextPageToken")
                else:
                    ids.append(AddFile.from_json(obj["file"]).id)
        pages += 1
        if not token:
            return {"files": ids, "pages": pages, "versions": sorted(set(versions))}


out = []
stdout, sys.stdout = sys.stdout, sys.stderr  # the connector prints progress
for op in spec["ops"]:
    try:
        out.append(run(op, op.get("profile", spec["profile"])))
    except BaseException as e:  # reported: the test says which op failed
        out.append({"error": f"{type(e).__name__}: {e}"})
stdout.write(json.dumps(out))
stdout.flush()
os._exit(0)
