CREATE TABLE sales.eu.t AS SELECT abs(qty) AS a, round(amount, 1) AS b, floor(price) AS c, ceil(price) AS d, sqrt(price) AS e, power(price, 2) AS f,
  ln(price) AS g, exp(price) AS h, round(price) AS i FROM sales.eu.orders;
