CREATE TABLE sales.eu.t AS SELECT payments.id FROM sales.eu.orders;
