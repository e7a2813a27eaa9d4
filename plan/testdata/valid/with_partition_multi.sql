CREATE TABLE sales.eu.t WITH ('partitioned.by' = 'country, day') AS
SELECT id, country, CAST(placed_at AS DATE) AS day FROM sales.eu.orders;
