CREATE TABLE sales.eu.t AS SELECT id, CASE qty WHEN 1 THEN 'one' WHEN 2 THEN 'two' ELSE 'many' END AS words FROM sales.eu.orders;
