CREATE TABLE sales.eu.t AS SELECT round(price, qty) AS v FROM sales.eu.orders;
