CREATE TABLE sales.eu.t AS SELECT date_trunc('hour', placed_at) AS h, extract('year', placed_at) AS y, to_date(customer) AS d, to_timestamp(customer) AS ts,
  format_timestamp(placed_at, 'yyyy-MM-dd') AS f, date_add(shipped_on, 7) AS due, current_timestamp() AS now FROM sales.eu.orders;
