CREATE TABLE sales.eu.t AS SELECT id FROM sales.eu.orders WHERE shipped_on IN (1, 2);
