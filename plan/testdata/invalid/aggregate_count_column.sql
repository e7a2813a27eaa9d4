CREATE TABLE sales.eu.t AS SELECT count(id) AS n FROM sales.eu.orders;
