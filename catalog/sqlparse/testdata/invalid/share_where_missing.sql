ALTER SHARE partners ADD TABLE sales.orders.paid WHERE
