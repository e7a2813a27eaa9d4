CREATE TABLE sales.eu.t WITH ('target.file.size' = '1GiB') AS SELECT id FROM sales.eu.orders;
