ALTER SHARE partners REMOVE TABLE sales.orders.paid WHERE country = 'DE'
