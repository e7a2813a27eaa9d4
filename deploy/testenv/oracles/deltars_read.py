"""Oracle reader: reads Delta tables with delta-rs (the `deltalake` package)
and prints, for each URI, one JSON object: version, numFiles, numRecords,
schema, partitionColumns, txns (for the app ids given), readSeconds
(opening the table and reading it whole, without the interpreter's start) and, with --rows, the
rows in a canonical form (see canonical()) that the Go tests produce too
(deploy/testenv.CanonicalRows); with --cdf N, the change data feed from
version N (each row canonical, with _change_type and _commit_version).
Tables with deletion vectors are read through delta-rs's DataFusion scan,
which applies them. A table delta-rs cannot read gives {"error": "..."}.
With one URI the object is printed; with several, a list.

Usage: deltars_read.py URI... [--version N] [--rows] [--cdf N] [--txn APPID ...]
S3 settings come from the AWS_* environment variables.
"""
import argparse
import base64
import datetime
import decimal
import json
import math
import os
import sys
import time

import pyarrow as pa
from deltalake import DeltaTable, QueryBuilder


def canonical(v):
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return repr(v)
        return v
    if isinstance(v, bytes):
        return "b64:" + base64.b64encode(v).decode()
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            return v.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return v.strftime("%Y-%m-%dT%H:%M:%S.%f")
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return format(v, "f")
    if isinstance(v, dict):
        return {k: canonical(x) for k, x in v.items()}
    if isinstance(v, list):
        if v and all(isinstance(e, tuple) and len(e) == 2 for e in v):  # map
            return sorted(([canonical(k), canonical(x)] for k, x in v), key=lambda e: json.dumps(e[0]))
        return [canonical(e) for e in v]
    raise TypeError(f"no canonical form for {type(v)}")


def read(uri, a):
    opts = {}
    if uri.startswith("s3://"):
        for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"):
            if os.environ.get(k):
                opts[k] = os.environ[k]
        opts["AWS_ALLOW_HTTP"] = "true"
    try:
        t0 = time.perf_counter()
        dt = DeltaTable(uri, version=a.version, storage_options=opts)
        features = dt.protocol().reader_features or []
        mapped = dt.metadata().configuration.get("delta.columnMapping.mode", "none") != "none"
        if "deletionVectors" in features or "columnMapping" in features or mapped:
            # to_pyarrow_table refuses deletion vectors and reads column
            # mapped files by logical names (all nulls); the DataFusion
            # scan applies both.
            table = pa.table(QueryBuilder().register("t", dt).execute("select * from t").read_all())
        else:
            table = dt.to_pyarrow_table()
        seconds = time.perf_counter() - t0
        out = {
            "readSeconds": seconds,
            "version": dt.version(),
            "numFiles": len(dt.file_uris()),
            "numRecords": table.num_rows,
            "schema": json.loads(dt.schema().to_json()),
            "partitionColumns": dt.metadata().partition_columns,
            "txns": {app: dt.transaction_version(app) for app in a.txn},
        }
        if a.rows:
            out["rows"] = [canonical(r) for r in table.to_pylist()]
        if a.cdf is not None:
            import pyarrow
            cdf = pyarrow.table(dt.load_cdf(starting_version=a.cdf))
            out["cdf"] = [canonical({k: v for k, v in r.items() if k != "_commit_timestamp"}) for r in cdf.to_pylist()]
    except BaseException as e:  # reported, not raised: the caller compares errors
        out = {"error": f"{type(e).__name__}: {e}"}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("uris", nargs="+")
    ap.add_argument("--version", type=int)
    ap.add_argument("--rows", action="store_true")
    ap.add_argument("--cdf", type=int)
    ap.add_argument("--txn", nargs="*", default=[])
    a = ap.parse_args()
    results = [read(uri, a) for uri in a.uris]
    out = results[0] if len(results) == 1 else results
    sys.stdout.write(json.dumps(out, sort_keys=True))
    sys.stdout.flush()
    # delta-rs can abort at interpreter shutdown; leave before it does.
    os._exit(0)


if __name__ == "__main__":
    main()
