"""Reads the demo's shared table through a profile file with the real
delta-sharing connector, as a recipient would, until it holds rows or the
deadline passes. Prints one JSON object: tables listed, row count, columns,
the rows (as records) and the seconds it took.

Usage: demo_read.py PROFILE SHARE.SCHEMA.TABLE DEADLINE_SECONDS
"""
import json
import sys
import time

import delta_sharing

profile, table, deadline = sys.argv[1], sys.argv[2], float(sys.argv[3])
start = time.time()
client = delta_sharing.SharingClient(profile)
tables = [f"{t.share}.{t.schema}.{t.name}" for t in client.list_all_tables()]
df = None
while True:
    df = delta_sharing.load_as_pandas(f"{profile}#{table}")
    if len(df) > 0 or time.time() - start > deadline:
        break
    time.sleep(0.5)
json.dump({
    "tables": tables,
    "rows": len(df),
    "columns": list(df.columns),
    "records": json.loads(df.to_json(orient="records", date_format="iso")),
    "seconds": time.time() - start,
}, sys.stdout)
