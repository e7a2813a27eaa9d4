CREATE TABLE sales.eu.t AS SELECT CAST(customer AS DATE) AS a, CAST(customer AS TIMESTAMP) AS b, CAST(placed_at AS DATE) AS c, CAST(placed_at AS STRING) AS d,
  CAST('true' AS BOOLEAN) AS e, CAST(customer AS BINARY) AS f, CAST(placed_at AS TIMESTAMP_NTZ) AS g, CAST(qty AS STRING) AS h FROM sales.eu.orders;
