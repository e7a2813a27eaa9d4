CREATE TABLE sales.eu.orders_copy AS SELECT * FROM sales.eu.orders;
