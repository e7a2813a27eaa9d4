CREATE TABLE sales.eu.t AS SELECT CAST(tags AS INT) AS v FROM sales.eu.orders;
