CREATE TABLE sales.eu.t AS SELECT neg(id) AS n FROM sales.eu.orders;
