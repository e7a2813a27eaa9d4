CREATE TABLE sales.eu.t AS SELECT id, INTERVAL '1' DAY AS d FROM sales.eu.orders;
