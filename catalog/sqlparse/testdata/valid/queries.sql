SHOW QUERIES;
PAUSE QUERY q_orders_paid;
resume query q_orders_paid;
TERMINATE QUERY "3f2a9c1e-7d4b-4c6a-9a51-0b1c2d3e4f50"
