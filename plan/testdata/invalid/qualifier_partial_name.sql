CREATE TABLE sales.eu.t AS SELECT ders.id FROM sales.eu.orders;
