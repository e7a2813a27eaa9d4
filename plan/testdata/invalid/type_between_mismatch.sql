CREATE TABLE sales.eu.t AS SELECT id FROM sales.eu.orders WHERE placed_at BETWEEN 1 AND 2;
