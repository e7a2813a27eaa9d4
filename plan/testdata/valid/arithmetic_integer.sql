CREATE TABLE sales.eu.t AS SELECT id + qty AS a, id - 1 AS b, qty * qty AS c, id / 2 AS d, id % 7 AS e, -qty AS f, +qty AS g FROM sales.eu.orders;
