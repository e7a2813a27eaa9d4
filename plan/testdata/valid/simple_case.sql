CREATE TABLE sales.eu.labels AS
SELECT id, CASE country WHEN 'DE' THEN 'Germany' WHEN 'FR' THEN 'France' END AS country_name
FROM sales.eu.orders WHERE NOT (country NOT IN ('DE', 'FR'));
