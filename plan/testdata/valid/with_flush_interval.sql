CREATE TABLE sales.eu.t WITH ('flush.interval' = '1m30s') AS SELECT id FROM sales.eu.orders;
