CREATE TABLE sales.eu.t AS SELECT id, frobnicate(customer) AS f FROM sales.eu.orders;
