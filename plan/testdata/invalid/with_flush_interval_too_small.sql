CREATE TABLE sales.eu.t WITH ('flush.interval' = '0s') AS SELECT id FROM sales.eu.orders;
