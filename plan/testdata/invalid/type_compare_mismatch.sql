CREATE TABLE sales.eu.t AS SELECT id FROM sales.eu.orders WHERE placed_at > 5;
