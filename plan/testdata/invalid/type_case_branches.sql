CREATE TABLE sales.eu.t AS SELECT CASE WHEN active THEN placed_at ELSE 'x' END AS v FROM sales.eu.orders;
