CREATE TABLE sales.eu.t AS SELECT id, customer AS ID FROM sales.eu.orders;
