CREATE TABLE sales.eu.t AS SELECT 'it''s' AS s, 12345678901234567890 AS big, 0.001 AS small, TRUE AS yes, DATE '2024-02-29' AS d,
  TIMESTAMP '2024-02-29 12:00:00' AS ts, NULL AS nothing, -5 AS neg FROM sales.eu.orders;
