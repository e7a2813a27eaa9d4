CREATE TABLE sales.eu.t WITH ('kms.key' = '') AS SELECT id FROM sales.eu.orders;
