CREATE TABLE sales.eu.t AS SELECT id, customer AS id FROM sales.eu.orders;
