CREATE TABLE sales.eu.t WITH ('partitioned.by' = 'tags') AS SELECT id, tags FROM sales.eu.orders;
