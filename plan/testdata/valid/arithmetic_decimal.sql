CREATE TABLE sales.eu.t AS SELECT amount + 1.50 AS a, amount * amount AS b, amount / 3 AS c, amount % 2 AS d, amount - qty AS e FROM sales.eu.orders;
