SHOW DATABASES;
SHOW SCHEMAS;
SHOW SCHEMAS IN sales;
SHOW STREAMS IN sales.orders;
SHOW TABLES IN sales.orders;
SHOW TABLES;
SHOW QUERIES;
SHOW STORES;
SHOW SHARES;
SHOW RECIPIENTS;
SHOW ROLES;
SHOW USERS;
SHOW GRANTS;
SHOW GRANTS ON TABLE sales.orders.paid;
SHOW GRANTS ON SCHEMA sales.orders;
SHOW GRANTS TO ROLE analyst;
SHOW GRANTS TO USER alice;
DESCRIBE sales.orders.paid;
DESCRIBE DATABASE sales;
DESCRIBE SCHEMA sales.orders;
DESCRIBE STREAM sales.orders.raw;
DESCRIBE TABLE sales.orders.paid;
DESCRIBE STORE kafka_prod;
DESCRIBE SHARE partners;
DESCRIBE QUERY q_orders_paid;
DESCRIBE USER alice;
DESCRIBE ROLE analyst;
DESCRIBE RECIPIENT acme;
-- a user named "user", a role named "role"
DESCRIBE user;
DESCRIBE ROLE role;
-- a stream named "stream": the kind keyword is only a kind before a name
DESCRIBE stream;
-- upkeep status of tables
SHOW TABLE STATUS;
SHOW TABLE STATUS IN sales.orders;
SHOW TABLE STATUS IN sales.orders LIKE 'paid%';
show table status like 'o_ders';
