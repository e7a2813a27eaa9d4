CREATE TABLE sales.eu.t AS SELECT id, country IN ('DE', NULL) AS maybe FROM sales.eu.orders WHERE country NOT IN ('FR', NULL);
