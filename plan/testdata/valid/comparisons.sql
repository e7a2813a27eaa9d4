CREATE TABLE sales.eu.t AS SELECT id FROM sales.eu.orders
WHERE id >= 1 AND qty < 10 AND price <= 2.5 AND amount > 0 AND country <> 'XX' AND customer != 'x'
  AND placed_at > TIMESTAMP '2024-01-01 00:00:00' AND shipped_on = DATE '2024-05-01';
