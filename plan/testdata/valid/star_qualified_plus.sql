CREATE TABLE sales.eu.t AS SELECT orders.*, id * 10 AS id10 FROM sales.eu.orders;
