CREATE TABLE sales.eu.t WITH ('flush.interval' = 'soon') AS SELECT id FROM sales.eu.orders;
