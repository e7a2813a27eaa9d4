CREATE TABLE sales.eu.t AS SELECT NULLIF(country, '') AS c, IF(active, 'y', 'n') AS yn, GREATEST(qty, 10) AS g, LEAST(price, 1.5) AS l FROM sales.eu.orders;
