// Package parquetio writes Parquet data files from Arrow record batches, with
// the Delta per-file statistics of each file, and reads them back into Arrow.
package parquetio
