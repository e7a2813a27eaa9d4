CREATE TABLE sales.eu.t AS SELECT substring(customer, 'a') AS v FROM sales.eu.orders;
