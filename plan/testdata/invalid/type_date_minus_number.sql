CREATE TABLE sales.eu.t AS SELECT placed_at - 1 AS earlier FROM sales.eu.orders;
