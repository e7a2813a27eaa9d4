CREATE TABLE sales.eu.t AS SELECT COALESCE(qty, 0) AS q, COALESCE(amount, 0) AS a, COALESCE(customer, country, 'n/a') AS who, COALESCE(price, qty) AS p FROM sales.eu.orders;
