CREATE TABLE sales.eu.t AS SELECT id,
       upper(customer) || lower(country || (qty + tags)) AS v
FROM sales.eu.orders;
