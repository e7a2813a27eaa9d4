CREATE TABLE sales.eu.t AS SELECT id, amount * 2 FROM sales.eu.orders;
