CREATE TABLE sales.eu.t AS SELECT kafka_key || 'x' AS v FROM sales.eu.orders;
