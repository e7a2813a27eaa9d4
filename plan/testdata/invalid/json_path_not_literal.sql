CREATE TABLE sales.eu.t AS SELECT json_value(payload, customer) AS v FROM sales.eu.orders;
