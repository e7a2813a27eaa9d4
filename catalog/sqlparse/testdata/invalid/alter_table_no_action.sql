ALTER TABLE sales.orders.paid ADD COLUMN x INT;
