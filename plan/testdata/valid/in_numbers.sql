CREATE TABLE sales.eu.t AS SELECT id FROM sales.eu.orders WHERE qty IN (1, 2, 3) AND id NOT IN (10, 20) AND price IN (1.5, 2);
