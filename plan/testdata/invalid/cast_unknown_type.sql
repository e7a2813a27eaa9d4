CREATE TABLE sales.eu.t AS SELECT CAST(id AS NUMBER) AS v FROM sales.eu.orders;
