CREATE TABLE sales.eu.t AS SELECT id, CASE WHEN qty > 10 THEN 'bulk' WHEN qty > 0 THEN 'unit' END AS kind FROM sales.eu.orders;
