CREATE TABLE sales.eu.t AS SELECT CAST(qty AS BIGINT) AS a, CAST(id AS INT) AS b, CAST(amount AS DOUBLE) AS c, CAST(price AS DECIMAL(10,3)) AS d,
  CAST(qty AS SMALLINT) AS e, CAST(qty AS TINYINT) AS f, CAST(price AS FLOAT) AS g, CAST(price AS BIGINT) AS h FROM sales.eu.orders;
