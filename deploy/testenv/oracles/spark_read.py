"""Oracle reader: reads Delta tables with Apache Spark and delta-spark and
prints, for each URI, one JSON object: history (DESCRIBE HISTORY: version,
operation, operationParameters of each commit, newest first), numRecords,
and with --cdf N the change data feed from version N as
[_change_type, _commit_version] pairs. A table Spark cannot read gives
{"error": "..."}. With one URI the object is printed; with several, a list.

Usage: spark_read.py URI... [--cdf N]
The delta-spark jars come from Maven Central through Spark's Ivy, cached in
$SLUICE_TEST_SPARK_IVY (deploy/testenv/test.sh sets it).
"""
import argparse
import json
import os
import sys

from delta import configure_spark_with_delta_pip
from pyspark.sql import SparkSession


def session():
    b = (
        SparkSession.builder.master("local[1]")
        .appName("sluice-oracle")
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.databricks.delta.snapshotPartitions", "1")
    )
    if os.environ.get("SLUICE_TEST_SPARK_IVY"):
        b = b.config("spark.jars.ivy", os.environ["SLUICE_TEST_SPARK_IVY"])
    spark = configure_spark_with_delta_pip(b).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def read(spark, uri, a):
    try:
        hist = spark.sql(f"DESCRIBE HISTORY delta.`{uri}`").collect()
        out = {
            "history": [
                {"version": r["version"], "operation": r["operation"], "operationParameters": dict(r["operationParameters"] or {})}
                for r in hist
            ],
            "numRecords": spark.read.format("delta").load(uri).count(),
        }
        if a.cdf is not None:
            cdf = (
                spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", a.cdf).load(uri)
                .select("_change_type", "_commit_version").collect()
            )
            out["cdf"] = [[r["_change_type"], r["_commit_version"]] for r in cdf]
    except BaseException as e:  # reported, not raised: the caller compares errors
        out = {"error": f"{type(e).__name__}: {str(e)[:2000]}"}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("uris", nargs="+")
    ap.add_argument("--cdf", type=int)
    a = ap.parse_args()
    spark = session()
    results = [read(spark, uri, a) for uri in a.uris]
    out = results[0] if len(results) == 1 else results
    sys.stdout.write(json.dumps(out, sort_keys=True))
    sys.stdout.flush()
    spark.stop()


if __name__ == "__main__":
    main()
