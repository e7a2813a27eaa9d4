CREATE TABLE sales.eu.t AS SELECT id, customer + 1 AS x FROM sales.eu.orders;
