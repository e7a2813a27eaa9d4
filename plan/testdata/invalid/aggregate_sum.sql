CREATE TABLE sales.eu.t AS SELECT country, SUM(amount) AS total FROM sales.eu.orders;
