CREATE TABLE sales.eu.t AS SELECT id, 1 FROM sales.eu.orders;
