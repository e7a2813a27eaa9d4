CREATE TABLE sales.eu.big_orders
WITH ('partitioned.by' = 'country', 'flush.interval' = '5s', 'target.file.size' = '64MiB')
AS SELECT id, customer, amount * 2 AS double_amount, country,
          kafka_partition, kafka_offset, kafka_timestamp AS ingested_at
FROM sales.eu.orders
WHERE amount > 100 AND NOT (customer IS NULL) AND country <> 'internal';
