CREATE TABLE sales.eu.t AS SELECT payments.* FROM sales.eu.orders;
