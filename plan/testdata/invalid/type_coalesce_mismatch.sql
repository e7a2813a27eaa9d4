CREATE TABLE sales.eu.t AS SELECT COALESCE(placed_at, 1) AS v FROM sales.eu.orders;
