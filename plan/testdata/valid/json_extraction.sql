CREATE TABLE sales.eu.t AS SELECT json_value(payload, '$.customer.id') AS customer_id, json_query(payload, '$.items') AS items, json_value(payload, '$.items[0].sku') AS first_sku
FROM sales.eu.orders WHERE json_value(payload, '$.status') = 'paid';
