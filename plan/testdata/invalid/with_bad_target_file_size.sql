CREATE TABLE sales.eu.t WITH ('target.file.size' = 'huge') AS SELECT id FROM sales.eu.orders;
