CREATE TABLE sales.eu.t WITH ('partitioned.by' = 'country', 'flush.interval' = '30s', 'flush.max.bytes' = '8MiB', 'target.file.size' = '256MB',
  'kms.key' = 'alias/sluice', 'location' = 's3://lake/elsewhere') AS SELECT id, country FROM sales.eu.orders;
