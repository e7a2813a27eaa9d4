CREATE TABLE sales.eu.t AS SELECT id, CASE WHEN active THEN CASE WHEN price > 10 THEN price * 0.9 ELSE price END ELSE 0 END AS charged FROM sales.eu.orders;
