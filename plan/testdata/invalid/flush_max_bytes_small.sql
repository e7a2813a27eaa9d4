CREATE TABLE sales.eu.t WITH ('flush.interval' = '5m', 'flush.max.bytes' = '1KiB') AS SELECT id, country FROM sales.eu.orders;
