CREATE TABLE sales.eu.t AS
SELECT id, custmer FROM sales.eu.orders;
