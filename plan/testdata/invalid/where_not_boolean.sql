CREATE TABLE sales.eu.t AS SELECT id FROM sales.eu.orders
WHERE amount + 1;
