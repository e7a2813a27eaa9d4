CREATE TABLE sales.eu.t AS SELECT customer || '-' || country AS label, 'q' || qty AS qlabel FROM sales.eu.orders;
