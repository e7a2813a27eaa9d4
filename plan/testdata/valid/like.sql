CREATE TABLE sales.eu.t AS SELECT id, customer LIKE 'a_c%' AS abc FROM sales.eu.orders WHERE customer NOT LIKE '%test%' AND country LIKE 'D_';
