-- The local stack's pipeline (docker-compose.yml applies every *.sql file of
-- this folder at each start, so each statement is idempotent): web-shop
-- orders from the Kafka topic orders into a Delta table of the paid ones on
-- MinIO, shared with the recipient acme, whose profile the init service
-- writes to .sluice/profiles/acme.share.
CREATE DATABASE IF NOT EXISTS shop;
CREATE SCHEMA IF NOT EXISTS shop.sales;

CREATE STORE IF NOT EXISTS kafka WITH (
  'type' = 'kafka',
  'bootstrap.servers' = 'kafka:19092'
);

CREATE STREAM IF NOT EXISTS shop.sales.orders (
  order_id BIGINT NOT NULL,
  customer STRING,
  country  STRING,
  channel  STRING,
  status   STRING,
  items    INT,
  amount   DOUBLE,
  currency STRING,
  ts       TIMESTAMP NOT NULL
) WITH (
  'store' = 'kafka',
  'topic' = 'orders',
  'value.format' = 'json',
  'timestamp' = ts,
  'starting.position' = 'earliest'
);

-- Paid orders only; a new Delta commit every 2 s.
CREATE TABLE IF NOT EXISTS shop.sales.paid_orders
WITH ('flush.interval' = '2s')
AS SELECT order_id, customer, country, channel, items, amount, currency,
          ts AS ordered_at, kafka_partition, kafka_offset
FROM shop.sales.orders
WHERE status = 'paid' AND amount > 0;

CREATE SHARE IF NOT EXISTS partners;
ALTER SHARE partners ADD TABLE IF NOT EXISTS shop.sales.paid_orders AS sales.paid_orders;
CREATE RECIPIENT IF NOT EXISTS acme;
GRANT SELECT ON SHARE partners TO RECIPIENT acme;
