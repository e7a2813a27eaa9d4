CREATE TABLE sales.eu.t AS SELECT CASE WHEN qty THEN 1 END AS v FROM sales.eu.orders;
