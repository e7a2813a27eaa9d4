CREATE TABLE sales.eu.t AS SELECT orders.id, eu.orders.customer, sales.eu.orders.amount FROM sales.eu.orders;
