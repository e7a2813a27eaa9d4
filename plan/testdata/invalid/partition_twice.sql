CREATE TABLE sales.eu.t WITH ('partitioned.by' = 'country,country') AS SELECT id, country FROM sales.eu.orders;
