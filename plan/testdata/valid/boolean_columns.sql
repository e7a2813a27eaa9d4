CREATE TABLE sales.eu.t AS SELECT active AND qty > 1 AS a, active OR customer IS NULL AS b, NOT active AS c, active = TRUE AS d FROM sales.eu.orders;
