CREATE TABLE sales.eu.t AS SELECT id FROM sales.eu.orders WHERE NOT active AND qty > 1 OR NOT (price > 2);
