CREATE TABLE sales.eu.t AS SELECT orders.custmer FROM sales.eu.orders;
