CREATE TABLE sales.eu.t AS SELECT id FROM sales.eu.orders WHERE country = 'DE' OR country = 'FR' AND qty > 1;
