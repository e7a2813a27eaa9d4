CREATE TABLE sales.eu.t AS SELECT qty + price AS a, price * 2 AS b, amount + price AS c, qty / 2.0 AS d, 1.5e3 AS e FROM sales.eu.orders;
