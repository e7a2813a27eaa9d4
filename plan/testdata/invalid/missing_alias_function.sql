CREATE TABLE sales.eu.t AS SELECT id, upper(customer) FROM sales.eu.orders;
