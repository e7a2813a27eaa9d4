CREATE TABLE sales.eu.t WITH ('partitioned.by' = 'region') AS SELECT id FROM sales.eu.orders;
