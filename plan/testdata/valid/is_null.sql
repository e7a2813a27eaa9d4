CREATE TABLE sales.eu.t AS SELECT customer IS NULL AS no_customer, amount IS NOT NULL AS priced FROM sales.eu.orders WHERE shipped_on IS NOT NULL;
