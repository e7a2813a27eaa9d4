-- Web-shop orders from the Kafka topic `orders` into a Delta table of the
-- paid ones, shared with the recipient acme. `sluice demo` runs it on its
-- embedded Kafka, the docker-compose stack applies it at every start (so
-- every statement is idempotent), the end-to-end tests run it on the test
-- Kafka. It reads the store `kafka`, which each of them declares first
-- with its own brokers (the stack: deploy/compose/kafka-store.sql).
CREATE DATABASE IF NOT EXISTS shop;
CREATE SCHEMA IF NOT EXISTS shop.sales;

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

-- Paid orders only, with computed columns; a new Delta commit every 2 s.
CREATE TABLE IF NOT EXISTS shop.sales.paid_orders
WITH ('partitioned.by' = 'country', 'flush.interval' = '2s')
AS SELECT order_id, customer, country, channel, items, amount, currency,
          ROUND(amount / items, 2) AS avg_item_price,
          CASE WHEN amount >= 200 THEN 'large' ELSE 'regular' END AS order_size,
          ts AS ordered_at,
          kafka_partition, kafka_offset
FROM shop.sales.orders
WHERE status = 'paid' AND amount > 0;

CREATE SHARE IF NOT EXISTS partners;
ALTER SHARE partners ADD TABLE IF NOT EXISTS shop.sales.paid_orders AS sales.paid_orders WITH HISTORY;
CREATE RECIPIENT IF NOT EXISTS acme;
GRANT SELECT ON SHARE partners TO RECIPIENT acme;
