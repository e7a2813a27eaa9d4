CREATE TABLE sales.eu.segments AS
SELECT id,
       CASE WHEN amount >= 1000 THEN 'large' WHEN amount >= 100 THEN 'medium' ELSE 'small' END AS segment,
       COALESCE(customer, 'anonymous') AS customer,
       upper(country) AS country_code,
       date_trunc('day', placed_at) AS order_day
FROM sales.eu.orders
WHERE country IN ('DE', 'FR', 'NL') AND customer LIKE 'c%' AND amount BETWEEN 1 AND 5000;
