CREATE TABLE sales.eu.t AS SELECT id + qty * 2 AS a, (id + qty) * 2 AS b, id - qty - 1 AS c, -id * 2 AS d FROM sales.eu.orders;
