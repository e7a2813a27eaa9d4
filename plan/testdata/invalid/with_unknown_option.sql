CREATE TABLE sales.eu.t WITH ('flush.interval' = '5s', 'partition.by' = 'country') AS SELECT id, country FROM sales.eu.orders;
