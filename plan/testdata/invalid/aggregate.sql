CREATE TABLE sales.eu.t AS SELECT count(*) AS n FROM sales.eu.orders;
