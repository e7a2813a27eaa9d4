CREATE TABLE sales.eu.t WITH ('partitioned.by' = 'country') AS SELECT country FROM sales.eu.orders;
