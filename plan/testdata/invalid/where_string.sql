CREATE TABLE sales.eu.t AS SELECT id FROM sales.eu.orders WHERE customer;
