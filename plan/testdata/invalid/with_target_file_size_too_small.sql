CREATE TABLE sales.eu.t WITH ('target.file.size' = '0') AS SELECT id FROM sales.eu.orders;
