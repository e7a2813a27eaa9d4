CREATE TABLE sales.eu.t AS SELECT lower(customer) AS a, upper(country) AS b, trim(customer) AS c, ltrim(customer) AS d, rtrim(customer) AS e,
  length(customer) AS f, substring(customer, 1, 3) AS g, replace(customer, 'a', 'b') AS h, concat(customer, '/', country) AS i,
  split_part(payload, ',', 2) AS j, starts_with(customer, 'c') AS k, ends_with(customer, 'z') AS l, contains(customer, 'x') AS m
FROM sales.eu.orders;
